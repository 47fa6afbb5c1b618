<?php
/**
 * Proxmox Terminate's hooks. WHMCS loads this file on every request while
 * the addon is active.
 */

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

require_once __DIR__ . '/lib/load.php';

use ProxmoxTerminate\Handoff;
use ProxmoxTerminate\Panel;
use ProxmoxTerminate\Settings;
use ProxmoxTerminate\Todo;

// The hand-off (admin's Terminate, the cron's overdue terminations, the
// API's ModuleTerminate all run PreModuleTerminate first).
add_hook('PreModuleTerminate', 1, function ($vars) {
    return Handoff::preModuleTerminate($vars, Settings::load());
});

// The panel on the admin's service page.
add_hook('AdminClientServicesTabFields', 1, function ($vars) {
    return Panel::fields($vars, Settings::load());
});

// One To-Do item per failed attempt, checked after every cron run.
add_hook('AfterCronJob', 1, function ($vars) {
    list(, $err) = Todo::sync(Settings::load());
    if ($err !== '') {
        logActivity('proxmox-terminate: the To-Do check could not list failed terminations: ' . $err);
    }
});
