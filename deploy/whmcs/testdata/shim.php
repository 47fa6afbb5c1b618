<?php
/**
 * A small stand-in for WHMCS, for the addon's tests under php-cli: the
 * documented functions the addon calls, with WHMCS's documented semantics,
 * on the real MariaDB database the test names.
 *
 *   add_hook($hook, $priority, $fn) / run_hook($hook, $vars): hooks run by
 *     priority, lowest first; run_hook returns each hook's response.
 *   localAPI('UpdateClientProduct', ...): result "success", or "error" with
 *     a message.
 *   logActivity, logModuleCall, generate_token('plain').
 *   WHMCS\Database\Capsule::table(): the part of Laravel's query builder the
 *     addon uses.
 *   shim_module_terminate($serviceId): what WHMCS does on Terminate (the
 *     admin's button, the cron, the API's ModuleTerminate): PreModuleTerminate,
 *     abort on abortcmd=true, else the product's module's TerminateAccount
 *     and, on "success", the service set Terminated.
 *
 * Environment: SHIM_DSN, SHIM_USER (PDO), SHIM_MODULES (folders holding
 * servers/<module>/<module>.php, colon-separated), SHIM_ADDON (the addon's
 * folder).
 */

namespace WHMCS\Database {
    final class Capsule
    {
        /** @var \PDO|null */
        public static $pdo;

        public static function pdo()
        {
            if (self::$pdo === null) {
                self::$pdo = new \PDO(getenv('SHIM_DSN'), getenv('SHIM_USER') ?: 'root', '', array(
                    \PDO::ATTR_ERRMODE => \PDO::ERRMODE_EXCEPTION,
                    \PDO::ATTR_DEFAULT_FETCH_MODE => \PDO::FETCH_OBJ,
                ));
            }
            return self::$pdo;
        }

        public static function table($name)
        {
            return new Builder($name);
        }
    }

    final class Builder
    {
        private $table;
        private $joins = array();
        private $wheres = array();
        private $args = array();
        private $order = '';
        private $limit = '';

        public function __construct($table)
        {
            $this->table = self::ident($table);
        }

        private static function ident($s)
        {
            if (!preg_match('/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/', $s)) {
                throw new \InvalidArgumentException('shim: bad identifier ' . $s);
            }
            return $s;
        }

        public function join($table, $a, $op, $b)
        {
            $this->joins[] = 'JOIN ' . self::ident($table) . ' ON ' . self::ident($a) . ' ' . self::op($op) . ' ' . self::ident($b);
            return $this;
        }

        private static function op($op)
        {
            $op = strtolower($op);
            if (!in_array($op, array('=', '<', '>', '<=', '>=', '!=', '<>', 'like'), true)) {
                throw new \InvalidArgumentException('shim: bad operator ' . $op);
            }
            return $op;
        }

        public function where($col, $op, $val = null)
        {
            if (func_num_args() === 2) {
                $val = $op;
                $op = '=';
            }
            $this->wheres[] = self::ident($col) . ' ' . self::op($op) . ' ?';
            $this->args[] = $val;
            return $this;
        }

        public function orderBy($col, $dir = 'asc')
        {
            $this->order = ' ORDER BY ' . self::ident($col) . (strtolower($dir) === 'desc' ? ' DESC' : ' ASC');
            return $this;
        }

        public function limit($n)
        {
            $this->limit = ' LIMIT ' . (int) $n;
            return $this;
        }

        private function sql($select)
        {
            return 'SELECT ' . $select . ' FROM ' . $this->table . ($this->joins ? ' ' . implode(' ', $this->joins) : '')
                . ($this->wheres ? ' WHERE ' . implode(' AND ', $this->wheres) : '') . $this->order . $this->limit;
        }

        private function query($select)
        {
            $st = Capsule::pdo()->prepare($this->sql($select));
            $st->execute($this->args);
            return $st;
        }

        public function get()
        {
            return new Collection($this->query('*')->fetchAll());
        }

        public function first()
        {
            $this->limit = ' LIMIT 1';
            $row = $this->query('*')->fetch();
            return $row === false ? null : $row;
        }

        public function value($col)
        {
            $this->limit = ' LIMIT 1';
            $v = $this->query(self::ident($col) . ' AS v')->fetchColumn();
            return $v === false ? null : $v;
        }

        public function exists()
        {
            $this->limit = ' LIMIT 1';
            return $this->query('1')->fetchColumn() !== false;
        }

        public function count()
        {
            return (int) $this->query('COUNT(*)')->fetchColumn();
        }

        public function insert(array $row)
        {
            $cols = array_map(array(__CLASS__, 'ident'), array_keys($row));
            $sql = 'INSERT INTO ' . $this->table . ' (' . implode(', ', $cols) . ') VALUES (' . implode(', ', array_fill(0, count($row), '?')) . ')';
            return Capsule::pdo()->prepare($sql)->execute(array_values($row));
        }

        public function update(array $set)
        {
            $parts = array();
            foreach (array_keys($set) as $c) {
                $parts[] = self::ident($c) . ' = ?';
            }
            $sql = 'UPDATE ' . $this->table . ' SET ' . implode(', ', $parts) . ($this->wheres ? ' WHERE ' . implode(' AND ', $this->wheres) : '');
            $st = Capsule::pdo()->prepare($sql);
            $st->execute(array_merge(array_values($set), $this->args));
            return $st->rowCount();
        }
    }

    final class Collection implements \IteratorAggregate, \Countable
    {
        private $items;

        public function __construct(array $items)
        {
            $this->items = $items;
        }

        public function getIterator(): \Iterator
        {
            return new \ArrayIterator($this->items);
        }

        public function count(): int
        {
            return count($this->items);
        }

        public function all()
        {
            return $this->items;
        }
    }
}

namespace {
    use WHMCS\Database\Capsule;

    define('WHMCS', true);

    $GLOBALS['shim_hooks'] = array();
    $GLOBALS['shim_module_calls'] = array();

    function add_hook($hook, $priority, $fn)
    {
        $GLOBALS['shim_hooks'][$hook][] = array((int) $priority, count($GLOBALS['shim_hooks'][$hook] ?? array()), $fn);
    }

    function run_hook($hook, $vars)
    {
        $hooks = $GLOBALS['shim_hooks'][$hook] ?? array();
        usort($hooks, function ($a, $b) {
            return $a[0] <=> $b[0] ?: $a[1] <=> $b[1];
        });
        $out = array();
        foreach ($hooks as $h) {
            $r = call_user_func($h[2], $vars);
            if ($r !== null) {
                $out[] = $r;
            }
        }
        return $out;
    }

    function localAPI($command, $values, $adminUser = '')
    {
        if ($command !== 'UpdateClientProduct') {
            return array('result' => 'error', 'message' => 'Command Not Found');
        }
        $id = (int) ($values['serviceid'] ?? 0);
        if (Capsule::table('tblhosting')->where('id', $id)->count() === 0) {
            return array('result' => 'error', 'message' => 'Service ID Not Found');
        }
        $set = array();
        if (isset($values['status'])) {
            $set['domainstatus'] = $values['status'];
        }
        if (isset($values['terminationdate'])) {
            $set['termination_date'] = $values['terminationdate'];
        }
        if ($set) {
            Capsule::table('tblhosting')->where('id', $id)->update($set);
        }
        return array('result' => 'success', 'serviceid' => $id);
    }

    function logActivity($message, $userId = 0)
    {
        Capsule::table('tblactivitylog')->insert(array(
            'date' => date('Y-m-d H:i:s'), 'description' => $message, 'user' => 'System', 'userid' => (int) $userId,
            'user_id' => 0, 'admin_id' => 0, 'ipaddr' => '127.0.0.1',
        ));
    }

    function logModuleCall($module, $action, $request, $response, $processed = '', $replace = array())
    {
        $GLOBALS['shim_module_calls'][] = array('module' => $module, 'action' => $action, 'processed' => $processed, 'replace' => $replace);
    }

    function generate_token($type = 'link')
    {
        if (empty($_SESSION['tkval'])) {
            $_SESSION['tkval'] = bin2hex(random_bytes(20));
        }
        return $type === 'plain' ? $_SESSION['tkval'] : '&token=' . $_SESSION['tkval'];
    }

    /** WHMCS's Terminate of a service. Returns the message WHMCS shows. */
    function shim_module_terminate($serviceId)
    {
        $svc = Capsule::table('tblhosting')->join('tblproducts', 'tblproducts.id', '=', 'tblhosting.packageid')
            ->where('tblhosting.id', (int) $serviceId)->first();
        if ($svc === null) {
            return 'Service ID Not Found';
        }
        $params = array(
            'serviceid' => (int) $serviceId, 'userid' => (int) $svc->userid, 'pid' => (int) $svc->packageid,
            'domain' => $svc->domain, 'moduletype' => $svc->servertype, 'action' => 'terminate',
        );
        foreach (run_hook('PreModuleTerminate', array('params' => $params)) as $r) {
            if (is_array($r) && !empty($r['abortcmd'])) {
                return 'Function Aborted by Action Hook Code';
            }
            if (is_array($r)) {
                $params = array_merge($params, $r);
            }
        }
        $module = $params['moduletype'];
        foreach (explode(':', (string) getenv('SHIM_MODULES')) as $root) {
            $file = $root . '/servers/' . $module . '/' . $module . '.php';
            if ($root !== '' && is_file($file)) {
                require_once $file;
            }
        }
        $fn = $module . '_TerminateAccount';
        if (!function_exists($fn)) {
            return 'Function Not Supported by Module';
        }
        $result = $fn($params);
        if ($result === 'success') {
            Capsule::table('tblhosting')->where('id', (int) $serviceId)->update(array('domainstatus' => 'Terminated'));
            run_hook('AfterModuleTerminate', array('params' => $params));
        }
        return $result;
    }

    /** Loads the addon (its hooks and module file) as WHMCS does when it is active. */
    function shim_load_addon()
    {
        $dir = getenv('SHIM_ADDON');
        require_once $dir . '/hooks.php';
        require_once $dir . '/proxmoxterminate.php';
    }
}
