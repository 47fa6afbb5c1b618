<?php
/**
 * Failures where admins look: one To-Do item (Utilities → To-Do List) per
 * failed termination attempt. The Local API reads and updates To-Do items
 * but has no call that adds one, so the item is a row of WHMCS's
 * tbltodolist, written as WHMCS writes it. The title names the service and
 * the attempt, and an item is added only when no item has that title: a
 * later cron run, or a second worker of WHMCS's cron, never duplicates it.
 */

namespace ProxmoxTerminate;

use WHMCS\Database\Capsule;

final class Todo
{
    public static function title($serviceId, $attempt)
    {
        return sprintf('proxmox-terminate: service #%d termination failed (attempt %d)', $serviceId, $attempt);
    }

    /**
     * Adds the missing items for rows in error_terminate. Returns
     * array(added, error) where error is '' or the starter's error line.
     */
    public static function sync(Settings $settings)
    {
        if (!$settings->todo()) {
            return array(0, '');
        }
        $run = $settings->starter()->json(array('list', '--vm-status', 'error_terminate', '--limit', '1000'));
        if ($run['result'] !== 'success') {
            return array(0, $run['result']);
        }
        $added = 0;
        foreach ($run['json']['rows'] as $row) {
            $id = (int) $row['service_id'];
            $title = self::title($id, (int) $row['attempt']);
            if (Capsule::table('tbltodolist')->where('title', $title)->exists()) {
                continue;
            }
            Capsule::table('tbltodolist')->insert(array(
                'date' => date('Y-m-d'),
                'title' => $title,
                'description' => sprintf("The VM of service #%d was not deleted: %s\n\nIts IPs stay allocated. Open Addons → Proxmox Terminate → VM Management (search %d) to read the log, then Reset or Delete Record.",
                    $id, (string) $row['last_error'], $id),
                'admin' => 0,
                'status' => 'New',
                'duedate' => date('Y-m-d'),
            ));
            $added++;
        }
        return array($added, '');
    }
}
