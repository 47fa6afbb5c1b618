<?php
/**
 * Runs the proxmox-terminate starter binary with a hard time bound. Used by
 * the addon (hand-off, VM Management, service panel, To-Do items) and by the
 * proxmoxterminate provisioning module. The starter does all the work; this
 * class only starts it, bounds it and reads what it printed.
 */

namespace ProxmoxTerminate;

final class Starter
{
    const DEFAULT_BINARY = '/usr/local/bin/proxmox-terminate-starter';
    const DEFAULT_CONFIG = '/etc/proxmox-terminate/config.yaml';
    const DEFAULT_ENVFILE = '/etc/proxmox-terminate/starter.env';
    const DEFAULT_TIMEOUT = 20; // seconds, the starter's own default
    const GRACE = 3;            // seconds past --timeout before the kill
    const MAX_OUTPUT = 8388608; // bytes; more is a runaway writer

    /** @var string */
    private $binary;
    /** @var string */
    private $config;
    /** @var string */
    private $timeout;
    /** @var string */
    private $envfile;

    /**
     * @param string $binary  absolute path of the starter
     * @param string $config  its --config ('' for the starter's default)
     * @param string $timeout its --timeout in whole seconds, as configured
     * @param string $envfile KEY=VALUE file of secrets ('' for none)
     */
    public function __construct($binary, $config, $timeout, $envfile)
    {
        $this->binary = (string) $binary;
        $this->config = (string) $config;
        $this->timeout = trim((string) $timeout);
        $this->envfile = trim((string) $envfile);
    }

    /**
     * `starter terminate --service-id N`: result is "success" or one
     * non-empty error line.
     */
    public function terminate($serviceId)
    {
        $id = self::serviceId($serviceId);
        if ($id === null) {
            return self::failed('error: invalid service id ' . var_export($serviceId, true));
        }
        $run = $this->run(array('terminate', '--service-id', $id));
        if ($run['result'] === '' && $run['exit'] === 0 && self::firstLine($run['stdout']) === 'success') {
            $run['result'] = 'success';
        }
        return self::finish($run);
    }

    /**
     * A command whose --json document is returned as $run['json'] (an
     * array); result is "success" or one error line.
     */
    public function json(array $args)
    {
        $args[] = '--json';
        $run = $this->run($args);
        if ($run['result'] === '' && $run['exit'] === 0) {
            $doc = json_decode($run['stdout'], true);
            if (is_array($doc)) {
                $run['json'] = $doc;
                $run['result'] = 'success';
            } else {
                $run['result'] = 'error: the starter printed no JSON document';
            }
        }
        return self::finish($run);
    }

    /**
     * A command that prints a line on success (reset, delete-record):
     * result is "success" (the line in $run['message']) or one error line.
     */
    public function action(array $args)
    {
        $run = $this->run($args);
        if ($run['result'] === '' && $run['exit'] === 0) {
            $run['result'] = 'success';
            $run['message'] = self::firstLine($run['stdout']);
        }
        return self::finish($run);
    }

    /** A decimal service id as a string, or null. */
    public static function serviceId($v)
    {
        $id = is_int($v) ? (string) $v : trim((string) $v);
        return preg_match('/^[1-9][0-9]{0,9}$/', $id) ? $id : null;
    }

    private static function failed($msg)
    {
        return array(
            'result' => $msg, 'command' => '', 'exit' => null, 'stdout' => '', 'stderr' => '',
            'seconds' => 0.0, 'secrets' => array(), 'json' => null, 'message' => '',
        );
    }

    /** Turns a run that printed no recognised answer into its error line. */
    private static function finish(array $run)
    {
        if ($run['result'] !== '') {
            return $run;
        }
        $line = self::errorLine($run['stderr']);
        if ($line === '') {
            $first = self::firstLine($run['stdout']);
            $line = sprintf('error: starter exited with code %s%s', var_export($run['exit'], true),
                $first !== '' ? ' and printed: ' . $first : ' and printed nothing');
        }
        $run['result'] = $line;
        return $run;
    }

    /**
     * Runs the starter with $args (plus --timeout and --config) and returns
     * array(result, command, exit, stdout, stderr, seconds, secrets, json,
     * message); result is '' when the starter ran to its end, else the
     * error that stopped it.
     */
    private function run(array $args)
    {
        $out = self::failed('');
        $fail = function ($msg) use (&$out) {
            $out['result'] = $msg;
            return $out;
        };
        if (!preg_match('/^[1-9][0-9]{0,3}$/', $this->timeout)) {
            return $fail('error: module setting "Timeout (seconds)" must be a whole number of seconds from 1 to 9999, not '
                . var_export($this->timeout, true));
        }
        $timeout = (int) $this->timeout;
        if ($this->binary === '' || !is_file($this->binary) || !is_executable($this->binary)) {
            return $fail('error: starter binary ' . var_export($this->binary, true) . ' is missing or not executable by the web server user');
        }
        $env = null; // inherit the web server's environment
        if ($this->envfile !== '') {
            $vars = self::readEnv($this->envfile);
            if (is_string($vars)) {
                return $fail($vars);
            }
            $env = getenv();
            foreach ($vars as $k => $v) {
                $env[$k] = $v;
                if (strlen($v) >= 4) {
                    $out['secrets'][] = $v;
                }
            }
        }
        $argv = array_merge(array($this->binary), $args, array('--timeout', $timeout . 's'));
        if ($this->config !== '') {
            $argv[] = '--config';
            $argv[] = $this->config;
        }
        // `exec` makes the shell replace itself with the starter, so that the
        // process the timeout kills is the starter itself.
        $command = 'exec ' . implode(' ', array_map('escapeshellarg', $argv));
        $out['command'] = $command;
        if (!function_exists('proc_open')) {
            return $fail('error: proc_open is disabled in this PHP (disable_functions): the module cannot run the starter');
        }

        $limit = $timeout + self::GRACE;
        $start = microtime(true);
        $deadline = $start + $limit;
        $pipes = array();
        $proc = @proc_open($command, array(0 => array('file', '/dev/null', 'r'), 1 => array('pipe', 'w'), 2 => array('pipe', 'w')), $pipes, null, $env);
        if (!is_resource($proc)) {
            return $fail('error: could not start ' . $this->binary . ' (is proc_open disabled?)');
        }
        stream_set_blocking($pipes[1], false);
        stream_set_blocking($pipes[2], false);

        $buf = array(1 => '', 2 => '');
        $open = array(1 => $pipes[1], 2 => $pipes[2]);
        $exit = null;
        $timedOut = false;
        while (true) {
            $status = proc_get_status($proc);
            if ($exit === null && !$status['running']) {
                // Only the first call after the exit reports the real code.
                $exit = $status['exitcode'];
            }
            if ($exit !== null && !$open) {
                break;
            }
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                $timedOut = $exit === null;
                break;
            }
            if (!$open) {
                usleep(10000); // both pipes closed, process not reaped yet
                continue;
            }
            $read = array_values($open);
            $write = null;
            $except = null;
            $n = @stream_select($read, $write, $except, 0, (int) (min($left, 0.1) * 1000000));
            if ($n === false) {
                usleep(10000);
                continue;
            }
            foreach ($read as $stream) {
                $fd = $stream === $pipes[1] ? 1 : 2;
                $chunk = fread($stream, 65536);
                if ($chunk !== false && $chunk !== '') {
                    $buf[$fd] .= $chunk;
                } elseif (feof($stream)) {
                    unset($open[$fd]);
                }
            }
            if (strlen($buf[1]) + strlen($buf[2]) > self::MAX_OUTPUT) {
                break; // a runaway writer: treated as a failure below
            }
        }
        if ($exit === null) {
            proc_terminate($proc, 9); // SIGKILL: the bound is hard
        }
        foreach ($open as $fd => $stream) {
            $rest = stream_get_contents($stream);
            if ($rest !== false) {
                $buf[$fd] .= $rest;
            }
        }
        fclose($pipes[1]);
        fclose($pipes[2]);
        $closed = proc_close($proc);
        if ($exit === null && !$timedOut) {
            $exit = $closed;
        }
        $out['stdout'] = $buf[1];
        $out['stderr'] = $buf[2];
        $out['exit'] = $exit;
        $out['seconds'] = round(microtime(true) - $start, 3);
        if ($timedOut) {
            $id = array_search('--service-id', $args, true);
            $check = $id === false ? '`starter list`' : '`starter status --service-id ' . $args[$id + 1] . '`';
            return $fail(sprintf('error: starter timed out after %ds (--timeout %ds) and was killed; the termination may or may not have been queued: check %s',
                $limit, $timeout, $check));
        }
        return $out;
    }

    /** The first non-empty line of $s, trimmed. */
    public static function firstLine($s)
    {
        foreach (preg_split('/\r?\n/', (string) $s) as $l) {
            $l = trim($l);
            if ($l !== '') {
                return $l;
            }
        }
        return '';
    }

    /** The starter's "error: ..." line, else the first non-empty stderr line. */
    public static function errorLine($stderr)
    {
        foreach (preg_split('/\r?\n/', (string) $stderr) as $l) {
            $l = trim($l);
            if (strpos($l, 'error:') === 0) {
                return $l;
            }
        }
        return self::firstLine($stderr);
    }

    /**
     * Reads KEY=VALUE lines (blank lines and # comments skipped; one pair of
     * surrounding single or double quotes removed). Returns the array, or an
     * error string.
     */
    public static function readEnv($path)
    {
        if (!is_file($path) || !is_readable($path)) {
            return 'error: environment file ' . $path . ' is missing or not readable by the web server user';
        }
        $lines = file($path, FILE_IGNORE_NEW_LINES);
        if ($lines === false) {
            return 'error: cannot read environment file ' . $path;
        }
        $vars = array();
        foreach ($lines as $i => $raw) {
            $l = trim($raw);
            if ($l === '' || $l[0] === '#') {
                continue;
            }
            if (strpos($l, 'export ') === 0) {
                $l = ltrim(substr($l, 7));
            }
            $eq = strpos($l, '=');
            $key = $eq === false ? '' : rtrim(substr($l, 0, $eq));
            if (!preg_match('/^[A-Za-z_][A-Za-z0-9_]*$/', $key)) {
                return sprintf('error: environment file %s line %d is not KEY=VALUE', $path, $i + 1);
            }
            $val = ltrim(substr($l, $eq + 1));
            $q = strlen($val) >= 2 ? $val[0] : '';
            if (($q === '"' || $q === "'") && substr($val, -1) === $q) {
                $val = substr($val, 1, -1);
            }
            $vars[$key] = $val;
        }
        return $vars;
    }
}
