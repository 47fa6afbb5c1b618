<?php
/**
 * Proxmox Terminate: WHMCS addon module (WHMCS 8.x and 9.x, PHP 8.1+).
 *
 * - Hands the terminate of services whose product uses one of the
 *   configured provisioning modules (pvewhmcs, puqProxmoxKVM, ...) to
 *   proxmox-terminate, leaving that module in charge of everything else
 *   (hooks.php, lib/Handoff.php).
 * - VM Management (Addons → Proxmox Terminate): the VM table with status
 *   badges, the Log, Reset and Delete Record (lib/Page.php).
 * - A panel on the admin's service page (lib/Panel.php) and a To-Do item
 *   per failed attempt (lib/Todo.php).
 *
 * Every read and every action goes through the starter binary; no pipeline
 * logic lives in PHP. The addon creates no table.
 */

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

require_once __DIR__ . '/lib/load.php';

use ProxmoxTerminate\Page;
use ProxmoxTerminate\Settings;
use ProxmoxTerminate\Starter;

function proxmoxterminate_config()
{
    return array(
        'name' => 'Proxmox Terminate',
        'description' => 'Terminates Proxmox VE VMs through proxmox-terminate (Temporal): the hand-off of the terminate, VM Management and failure To-Do items.',
        'author' => 'proxmox-terminate',
        'language' => 'english',
        'version' => '1.0',
        'fields' => array(
            'modules' => array(
                'FriendlyName' => 'Hand off the terminate of',
                'Type' => 'text', 'Size' => '60', 'Default' => '',
                'Description' => 'Provisioning module names, comma-separated (e.g. pvewhmcs, puqProxmoxKVM). Terminating a service of a product that uses one of them runs the starter instead of the module\'s own terminate. Empty: no hand-off.',
            ),
            'starter' => array(
                'FriendlyName' => 'Starter binary',
                'Type' => 'text', 'Size' => '60', 'Default' => Starter::DEFAULT_BINARY,
                'Description' => 'Absolute path of the proxmox-terminate starter',
            ),
            'config' => array(
                'FriendlyName' => 'Config file',
                'Type' => 'text', 'Size' => '60', 'Default' => Starter::DEFAULT_CONFIG,
                'Description' => 'The starter\'s --config',
            ),
            'timeout' => array(
                'FriendlyName' => 'Timeout (seconds)',
                'Type' => 'text', 'Size' => '5', 'Default' => (string) Starter::DEFAULT_TIMEOUT,
                'Description' => 'The starter\'s --timeout; the addon kills it ' . Starter::GRACE . 's later',
            ),
            'envfile' => array(
                'FriendlyName' => 'Environment file',
                'Type' => 'text', 'Size' => '60', 'Default' => Starter::DEFAULT_ENVFILE,
                'Description' => 'KEY=VALUE lines with the secrets the config\'s *_env keys name (empty: none)',
            ),
            'webui' => array(
                'FriendlyName' => 'Temporal Web UI',
                'Type' => 'text', 'Size' => '60', 'Default' => '',
                'Description' => 'Base URL of the namespace\'s workflows, e.g. https://temporal.example.com/namespaces/default/workflows (empty: no links)',
            ),
            'todo' => array(
                'FriendlyName' => 'To-Do on failure',
                'Type' => 'yesno', 'Default' => 'on',
                'Description' => 'Add one To-Do item per failed termination attempt (checked on every cron run)',
            ),
        ),
    );
}

function proxmoxterminate_activate()
{
    return array('status' => 'success', 'description' => 'Proxmox Terminate is active. Configure the starter and the modules to hand off, then grant admin roles access.');
}

function proxmoxterminate_deactivate()
{
    return array('status' => 'success', 'description' => 'Proxmox Terminate is inactive: terminates run the products\' own modules again. No data was removed.');
}

function proxmoxterminate_output($vars)
{
    $page = new Page(Settings::fromArray($vars));
    list($status, $html) = $page->handle($_GET, $_POST, isset($_SERVER['REQUEST_METHOD']) ? $_SERVER['REQUEST_METHOD'] : 'GET');
    if ($status !== 200 && !headers_sent()) {
        http_response_code($status);
    }
    echo $html;
    if (isset($_GET['action']) && $_GET['action'] === 'log') {
        exit; // the Log modal's fragment, without the admin area around it
    }
}
