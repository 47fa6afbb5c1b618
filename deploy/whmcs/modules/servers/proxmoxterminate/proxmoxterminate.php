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
 * This module is for products provisioned by hand. Products that another
 * Proxmox module provisions keep that module and hand their terminate off
 * through the proxmoxterminate addon instead (deploy/INSTALL.md).
 *
 * Install: copy deploy/whmcs/modules/ over <whmcs>/modules/ (this module
 * runs the starter through the addon's lib/Starter.php) and assign the
 * module to the hand-provisioned VM products.
 * Requires PHP >= 8.1 with proc_open enabled.
 */

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

require_once __DIR__ . '/../../addons/proxmoxterminate/lib/Starter.php';

use ProxmoxTerminate\Starter;

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
            'Default' => Starter::DEFAULT_BINARY,
            'Description' => 'Absolute path of the proxmox-terminate starter',
        ),
        'Config file' => array(
            'Type' => 'text',
            'Size' => '60',
            'Default' => Starter::DEFAULT_CONFIG,
            'Description' => 'The starter\'s --config',
        ),
        'Timeout (seconds)' => array(
            'Type' => 'text',
            'Size' => '5',
            'Default' => (string) Starter::DEFAULT_TIMEOUT,
            'Description' => 'The starter\'s --timeout; the module kills it '
                . Starter::GRACE . 's later',
        ),
        'Environment file' => array(
            'Type' => 'text',
            'Size' => '60',
            'Default' => Starter::DEFAULT_ENVFILE,
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
        'starter' => proxmoxterminate_option($params, 1, Starter::DEFAULT_BINARY),
        'config' => proxmoxterminate_option($params, 2, Starter::DEFAULT_CONFIG),
        'timeout' => proxmoxterminate_option($params, 3, (string) Starter::DEFAULT_TIMEOUT),
        'envfile' => proxmoxterminate_option($params, 4, ''),
    );
    $serviceId = isset($params['serviceid']) ? $params['serviceid'] : null;
    $starter = new Starter($options['starter'], $options['config'], $options['timeout'], $options['envfile']);
    $run = $starter->terminate($serviceId);

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
