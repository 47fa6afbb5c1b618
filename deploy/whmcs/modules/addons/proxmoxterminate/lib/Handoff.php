<?php
/**
 * The hand-off: for a service whose product uses one of the configured
 * provisioning modules, WHMCS's terminate (the admin's button, the daily
 * cron, the API's ModuleTerminate) runs `starter terminate` instead of that
 * module's own TerminateAccount.
 *
 * Runs in WHMCS's PreModuleTerminate hook. The hook always aborts the
 * module's own terminate for such a service (WHMCS documents abortcmd=true
 * as the way to abort the action). On the starter's "success" it marks the
 * service Terminated itself through the Local API (UpdateClientProduct), so
 * the service ends Terminated exactly as if the module had returned success.
 * On any other answer the service is left as it was and the starter's one
 * error line is logged where admins look (Activity Log, Module Log, the
 * service panel). deploy/INSTALL.md says what WHMCS shows for the abort.
 */

namespace ProxmoxTerminate;

use WHMCS\Database\Capsule;

final class Handoff
{
    /** The prefix of every Activity Log entry of the hand-off. */
    const LOG_PREFIX = 'proxmox-terminate: service #';

    /**
     * The PreModuleTerminate hook: returns array() for services it leaves
     * alone, array('abortcmd' => true) for services it handed off.
     */
    public static function preModuleTerminate(array $vars, Settings $settings)
    {
        $p = isset($vars['params']) && is_array($vars['params']) ? $vars['params'] : array();
        $module = isset($p['moduletype']) ? (string) $p['moduletype'] : '';
        if (!$settings->handsOff($module)) {
            return array();
        }
        $raw = isset($p['serviceid']) ? $p['serviceid'] : null;
        $id = Starter::serviceId($raw);
        $userId = isset($p['userid']) ? (int) $p['userid'] : 0;
        $run = $settings->starter()->terminate($raw);
        self::logModuleCall($module, $raw, $run);

        if ($run['result'] !== 'success') {
            self::log($id, $userId, sprintf('hand-off from %s failed: %s. Nothing was changed and %s\'s own terminate did not run.',
                $module, $run['result'], $module));
            return array('abortcmd' => true);
        }
        $api = localAPI('UpdateClientProduct', array(
            'serviceid' => (int) $id, 'status' => 'Terminated', 'terminationdate' => date('Y-m-d'),
        ));
        if (!is_array($api) || !isset($api['result']) || $api['result'] !== 'success') {
            $why = is_array($api) && isset($api['message']) ? (string) $api['message'] : 'no answer';
            self::log($id, $userId, sprintf('termination queued (hand-off from %s), but WHMCS did not mark the service Terminated: %s. Set its status to Terminated by hand.',
                $module, $why));
            return array('abortcmd' => true);
        }
        self::log($id, $userId, sprintf('termination queued (hand-off from %s); the service is Terminated and proxmox-terminate removes the VM in the background.',
            $module));
        return array('abortcmd' => true);
    }

    /** The last hand-off entry of a service in the Activity Log, or null. */
    public static function lastEntry($serviceId)
    {
        return Capsule::table('tblactivitylog')
            ->where('description', 'like', self::LOG_PREFIX . (int) $serviceId . ':%')
            ->orderBy('id', 'desc')->first();
    }

    private static function log($id, $userId, $msg)
    {
        logActivity(self::LOG_PREFIX . ($id === null ? '?' : $id) . ': ' . $msg, $userId);
    }

    private static function logModuleCall($module, $serviceId, array $run)
    {
        if (!function_exists('logModuleCall')) {
            return;
        }
        logModuleCall(
            Settings::MODULE,
            'TerminateAccount (hand-off from ' . $module . ')',
            array('command' => $run['command'], 'serviceid' => $serviceId),
            array('exit' => $run['exit'], 'stdout' => $run['stdout'], 'stderr' => $run['stderr'], 'seconds' => $run['seconds']),
            $run['result'],
            $run['secrets']
        );
    }
}
