<?php
/**
 * The panel on the admin's service page (Clients → Services): the
 * termination's state, attempt, last error and live lines, from
 * `starter status --json`; on error_terminate, Retry, Mark removed and
 * Delete record, and during the undo window (grace) Restore, which post to
 * VM Management.
 */

namespace ProxmoxTerminate;

use WHMCS\Database\Capsule;

final class Panel
{
    /** The AdminClientServicesTabFields hook: array(label => html), or array(). */
    public static function fields(array $vars, Settings $settings)
    {
        $id = Starter::serviceId(isset($vars['id']) ? $vars['id'] : '');
        if ($id === null || !Auth::allowed()) {
            return array();
        }
        $module = (string) Capsule::table('tblhosting')->join('tblproducts', 'tblproducts.id', '=', 'tblhosting.packageid')
            ->where('tblhosting.id', (int) $id)->value('tblproducts.servertype');
        if (!$settings->handsOff($module) && strtolower($module) !== Settings::MODULE) {
            return array();
        }
        return array('Proxmox termination' => self::html($id, $settings));
    }

    private static function html($id, Settings $settings)
    {
        $html = View::css() . '<div class="pt-panel" id="pt-panel">';
        $last = Handoff::lastEntry($id);
        if ($last !== null) {
            $html .= '<p class="pt-handoff">Last hand-off (' . View::h($last->date) . '): ' . View::h($last->description) . '</p>';
        }
        $run = $settings->starter()->json(array('status', '--service-id', $id));
        if ($run['result'] !== 'success') {
            return $html . '<p>No termination recorded: ' . View::h($run['result']) . '</p></div>';
        }
        $st = $run['json'];
        $html .= '<p>' . View::badge((string) $st['vm_status'])
            . ($st['phase'] !== '' ? ' phase ' . View::h($st['phase']) : '')
            . ' · attempt ' . (int) $st['attempt']
            . ($st['running'] ? ' · run open' : '') . '</p>';
        if ($st['last_error'] !== '') {
            $html .= '<p class="pt-err">Last error: ' . View::h($st['last_error']) . '</p>';
        }
        if ($st['lines']) {
            $lines = array();
            foreach ($st['lines'] as $l) {
                $lines[] = $l['at'] . '  ' . $l['text'];
            }
            $html .= '<pre class="pt-lines">' . View::h(implode("\n", $lines)) . '</pre>';
        }
        if ($st['vm_status'] === 'grace') {
            if (!empty($st['grace_until'])) {
                $html .= '<p class="pt-grace-until">Undo window until ' . View::h(gmdate('Y-m-d H:i', strtotime((string) $st['grace_until']))) . ' UTC: the VM is stopped and kept with its backups, DNS records and IPs.</p>';
            }
            $html .= View::restoreButton($id) . View::actionScript();
        }
        if ($st['vm_status'] === 'error_terminate') {
            $html .= View::actionButton(array('action' => 'reset', 'to' => 'terminate', 'service' => $id), 'Retry', 'pt-retry') . ' '
                . View::actionButton(array('action' => 'reset', 'to' => 'remove', 'service' => $id), 'Mark removed', 'pt-mark-removed',
                    'Mark the VM removed without calling Proxmox? Only if you deleted it on Proxmox yourself: its IPs become free for reuse.') . ' '
                . View::actionButton(array('action' => 'delete', 'service' => $id), 'Delete record', 'pt-delete-record',
                    'Delete the VM record? It does not touch Proxmox or the service; use it only when the VM is long gone from Proxmox.')
                . View::actionScript();
        }
        return $html . ' <a href="' . View::h(View::PAGE . '&q=' . $id) . '">VM Management</a></div>';
    }
}
