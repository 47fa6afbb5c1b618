<?php
/**
 * proxmoxterminate — WHMCS provisioning module whose TerminateAccount hands
 * the termination of a Proxmox VM to proxmox-terminate (a Temporal
 * workflow) by running
 *
 *     starter terminate --service-id N --config FILE --timeout Ts
 *
 * The starter validates the service, sends a graceful shutdown, queues the
 * workflow and prints "success" (exit 0), or prints one "error: ..." line on
 * stderr (exit != 0). This module returns exactly that: "success", or the
 * starter's error line — never an empty string — and never blocks longer
 * than the starter's own timeout plus a small grace: an overrunning starter
 * is killed and a timeout error returned.
 *
 * Install: copy this directory to <whmcs>/modules/servers/proxmoxterminate/
 * and assign the module to the VM products (deploy/INSTALL.md).
 * Requires PHP >= 7.4 with proc_open enabled.
 */

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

const PROXMOXTERMINATE_DEFAULT_STARTER = '/usr/local/bin/proxmox-terminate-starter';
const PROXMOXTERMINATE_DEFAULT_CONFIG = '/etc/proxmox-terminate/config.yaml';
const PROXMOXTERMINATE_DEFAULT_ENVFILE = '/etc/proxmox-terminate/starter.env';
const PROXMOXTERMINATE_DEFAULT_TIMEOUT = 20;  // seconds, the starter's own default
const PROXMOXTERMINATE_GRACE = 3;             // seconds past --timeout before the kill

function proxmoxterminate_MetaData()
{
    return array(
        'DisplayName' => 'Proxmox Terminate (Temporal)',
        'APIVersion' => '1.1',
        'RequiresServer' => false,
    );
}

/**
 * Product settings, passed as configoption1..4 in that order.
 */
function proxmoxterminate_ConfigOptions()
{
    return array(
        'Starter binary' => array(
            'Type' => 'text',
            'Size' => '60',
            'Default' => PROXMOXTERMINATE_DEFAULT_STARTER,
            'Description' => 'Absolute path of the proxmox-terminate starter',
        ),
        'Config file' => array(
            'Type' => 'text',
            'Size' => '60',
            'Default' => PROXMOXTERMINATE_DEFAULT_CONFIG,
            'Description' => 'The starter\'s --config',
        ),
        'Timeout (seconds)' => array(
            'Type' => 'text',
            'Size' => '5',
            'Default' => (string) PROXMOXTERMINATE_DEFAULT_TIMEOUT,
            'Description' => 'The starter\'s --timeout; the module kills it '
                . PROXMOXTERMINATE_GRACE . 's later',
        ),
        'Environment file' => array(
            'Type' => 'text',
            'Size' => '60',
            'Default' => PROXMOXTERMINATE_DEFAULT_ENVFILE,
            'Description' => 'KEY=VALUE lines with the secrets the config\'s *_env keys name (empty: none)',
        ),
    );
}

/**
 * WHMCS calls this on Terminate (admin button, cron, API ModuleTerminate).
 *
 * @return string "success" or the error to show
 */
function proxmoxterminate_TerminateAccount(array $params)
{
    $options = array(
        'starter' => proxmoxterminate_option($params, 1, PROXMOXTERMINATE_DEFAULT_STARTER),
        'config' => proxmoxterminate_option($params, 2, PROXMOXTERMINATE_DEFAULT_CONFIG),
        'timeout' => proxmoxterminate_option($params, 3, (string) PROXMOXTERMINATE_DEFAULT_TIMEOUT),
        'envfile' => proxmoxterminate_option($params, 4, ''),
    );
    $serviceId = isset($params['serviceid']) ? $params['serviceid'] : null;
    $run = proxmoxterminate_run_starter($serviceId, $options);

    if (function_exists('logModuleCall')) {
        logModuleCall(
            'proxmoxterminate',
            'TerminateAccount',
            array('command' => $run['command'], 'serviceid' => $serviceId),
            array(
                'exit' => $run['exit'],
                'stdout' => $run['stdout'],
                'stderr' => $run['stderr'],
                'seconds' => $run['seconds'],
            ),
            $run['result'],
            $run['secrets']
        );
    }
    return $run['result'];
}

/**
 * configoptionN, or $default when unset or blank. The environment file is
 * the exception: blank means "none", so its default is applied by
 * ConfigOptions only.
 */
function proxmoxterminate_option(array $params, $n, $default)
{
    $key = 'configoption' . $n;
    if (!isset($params[$key])) {
        return $default;
    }
    $v = trim((string) $params[$key]);
    return $v === '' ? $default : $v;
}

/**
 * Runs `starter terminate` for one service and returns
 * array(result, command, exit, stdout, stderr, seconds, secrets), where
 * result is "success" or a one-line, non-empty error.
 *
 * @param mixed $serviceId WHMCS tblhosting.id
 * @param array $options   starter, config, timeout (seconds), envfile
 */
function proxmoxterminate_run_starter($serviceId, array $options)
{
    $out = array(
        'result' => '', 'command' => '', 'exit' => null,
        'stdout' => '', 'stderr' => '', 'seconds' => 0.0, 'secrets' => array(),
    );
    $fail = function ($msg) use (&$out) {
        $out['result'] = $msg;
        return $out;
    };

    $id = is_int($serviceId) ? (string) $serviceId : trim((string) $serviceId);
    if (!preg_match('/^[1-9][0-9]{0,9}$/', $id)) {
        return $fail('error: invalid service id ' . var_export($serviceId, true));
    }
    $timeout = isset($options['timeout']) ? trim((string) $options['timeout']) : '';
    if (!preg_match('/^[1-9][0-9]{0,3}$/', $timeout)) {
        return $fail('error: module setting "Timeout (seconds)" must be a whole number of seconds from 1 to 9999, not '
            . var_export($timeout, true));
    }
    $timeout = (int) $timeout;
    $starter = isset($options['starter']) ? (string) $options['starter'] : '';
    if ($starter === '' || !is_file($starter) || !is_executable($starter)) {
        return $fail('error: starter binary ' . var_export($starter, true) . ' is missing or not executable by the web server user');
    }
    $config = isset($options['config']) ? (string) $options['config'] : '';

    $env = null; // inherit the web server's environment
    $envfile = isset($options['envfile']) ? trim((string) $options['envfile']) : '';
    if ($envfile !== '') {
        $vars = proxmoxterminate_read_env($envfile);
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

    $args = array($starter, 'terminate', '--service-id', $id, '--timeout', $timeout . 's');
    if ($config !== '') {
        $args[] = '--config';
        $args[] = $config;
    }
    // `exec` makes the shell replace itself with the starter, so that the
    // process the timeout kills is the starter itself.
    $command = 'exec ' . implode(' ', array_map('escapeshellarg', $args));
    $out['command'] = $command;

    $limit = $timeout + PROXMOXTERMINATE_GRACE;
    $start = microtime(true);
    $deadline = $start + $limit;
    if (!function_exists('proc_open')) {
        return $fail('error: proc_open is disabled in this PHP (disable_functions): the module cannot run the starter');
    }
    $pipes = array();
    $proc = @proc_open($command, array(0 => array('file', '/dev/null', 'r'), 1 => array('pipe', 'w'), 2 => array('pipe', 'w')), $pipes, null, $env);
    if (!is_resource($proc)) {
        return $fail('error: could not start ' . $starter . ' (is proc_open disabled?)');
    }
    stream_set_blocking($pipes[1], false);
    stream_set_blocking($pipes[2], false);

    $stdout = '';
    $stderr = '';
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
        if ($open) {
            $read = array_values($open);
            $write = null;
            $except = null;
            $wait = min($left, 0.1);
            $n = @stream_select($read, $write, $except, 0, (int) ($wait * 1000000));
            if ($n === false) {
                usleep(10000);
                continue;
            }
            foreach ($read as $stream) {
                $fd = $stream === $pipes[1] ? 1 : 2;
                $chunk = fread($stream, 65536);
                if ($chunk !== false && $chunk !== '') {
                    if ($fd === 1) {
                        $stdout .= $chunk;
                    } else {
                        $stderr .= $chunk;
                    }
                } elseif (feof($stream)) {
                    unset($open[$fd]);
                }
            }
        } else {
            // Both pipes closed, process not reaped yet.
            usleep(10000);
        }
        if (strlen($stdout) + strlen($stderr) > 1048576) {
            break; // a runaway writer: treat as failure below
        }
    }

    if ($exit === null) {
        proc_terminate($proc, 9); // SIGKILL: the bound is hard
    }
    foreach ($open as $stream) {
        $rest = stream_get_contents($stream);
        if ($rest !== false) {
            if ($stream === $pipes[1]) {
                $stdout .= $rest;
            } else {
                $stderr .= $rest;
            }
        }
    }
    fclose($pipes[1]);
    fclose($pipes[2]);
    $closed = proc_close($proc);
    if ($exit === null && !$timedOut) {
        $exit = $closed;
    }

    $out['stdout'] = $stdout;
    $out['stderr'] = $stderr;
    $out['exit'] = $exit;
    $out['seconds'] = round(microtime(true) - $start, 3);

    if ($timedOut) {
        return $fail(sprintf('error: starter timed out after %ds (--timeout %ds) and was killed; the termination may or may not have been queued: check `starter status --service-id %s`',
            $limit, $timeout, $id));
    }
    $first = proxmoxterminate_first_line($stdout);
    if ($exit === 0 && $first === 'success') {
        $out['result'] = 'success';
        return $out;
    }
    $line = proxmoxterminate_error_line($stderr);
    if ($line === '') {
        $line = sprintf('error: starter exited with code %s%s', var_export($exit, true),
            $first !== '' ? ' and printed: ' . $first : ' and printed nothing');
    }
    return $fail($line);
}

/** The first non-empty line of $s, trimmed. */
function proxmoxterminate_first_line($s)
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
function proxmoxterminate_error_line($stderr)
{
    foreach (preg_split('/\r?\n/', (string) $stderr) as $l) {
        $l = trim($l);
        if (strpos($l, 'error:') === 0) {
            return $l;
        }
    }
    return proxmoxterminate_first_line($stderr);
}

/**
 * Reads KEY=VALUE lines (blank lines and # comments skipped; one pair of
 * surrounding single or double quotes removed). Returns the array, or an
 * error string.
 */
function proxmoxterminate_read_env($path)
{
    if (!is_file($path) || !is_readable($path)) {
        return 'error: environment file ' . $path . ' is missing or not readable by the web server user';
    }
    $vars = array();
    $lines = file($path, FILE_IGNORE_NEW_LINES);
    if ($lines === false) {
        return 'error: cannot read environment file ' . $path;
    }
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
