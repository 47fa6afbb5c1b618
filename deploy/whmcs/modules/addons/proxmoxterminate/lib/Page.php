<?php
/**
 * VM Management: the addon's admin page. Lists our VM table through
 * `starter list --json`, shows a service's action log through
 * `starter log --json`, and runs Reset and Delete Record through the
 * starter. Nothing here decides what a reset or a delete may do: the
 * starter (and the waiting run) does.
 */

namespace ProxmoxTerminate;

final class Page
{
    const PER_PAGE = 50;

    /** The statuses an admin filters by. */
    const STATUSES = array('terminate', 'grace', 'error_terminate', 'remove', 'ready', 'creation', 'set_ip', 'change_package', 'set_dns_records');

    /** The Reset targets, with when to use each. */
    const TARGETS = array(
        'terminate' => 'Try the termination again. Use it once the cause of the failure is fixed: the node answers again, the API token works, the lock is gone.',
        'remove' => 'Record the VM as removed without calling Proxmox. Use it only after you deleted the VM on Proxmox yourself: the service\'s IPs become free for reuse.',
        'ready' => 'Give the service its VM back and abandon the termination. Use it when the service was terminated by mistake and the VM still exists.',
        'creation' => 'Hand the row back to the provisioning module to build the VM again. Use it when the VM was never fully created.',
        'set_ip' => 'Hand the row back to the provisioning module to assign the IPs again.',
        'change_package' => 'Hand the row back to the provisioning module to finish an interrupted package change.',
        'set_dns_records' => 'Hand the row back to the provisioning module to write the VM\'s DNS records again.',
    );

    /** @var Settings */
    private $settings;

    public function __construct(Settings $settings)
    {
        $this->settings = $settings;
    }

    /**
     * The page for one request: handles a POST, answers the Log modal's
     * request, or renders the list. Returns array(http status, html).
     */
    public function handle(array $get, array $post, $method)
    {
        if (!Auth::allowed()) {
            return array(403, View::banner(false, 'Your admin role may not use Proxmox Terminate (Setup → Addon Modules → Access Control).'));
        }
        if (strtoupper((string) $method) === 'POST') {
            list($status, $banner) = $this->act($post);
            return array($status, View::css() . $banner . ($status === 200 ? $this->render($get) : ''));
        }
        if (isset($get['action']) && $get['action'] === 'log') {
            return array(200, $this->log(isset($get['service']) ? $get['service'] : ''));
        }
        return array(200, View::css() . $this->render($get));
    }

    /** Runs a POSTed action. Returns array(http status, banner html). */
    private function act(array $post)
    {
        if (!Auth::tokenMatches(isset($post['token']) ? $post['token'] : null)) {
            return array(403, View::banner(false, 'Refused: the form\'s security token is missing or out of date. Nothing was changed; reload the page and try again.'));
        }
        $id = Starter::serviceId(isset($post['service']) ? $post['service'] : '');
        $action = isset($post['action']) ? (string) $post['action'] : '';
        if ($id === null) {
            return array(400, View::banner(false, 'Refused: no valid service id. Nothing was changed.'));
        }
        if ($action === 'reset') {
            $to = isset($post['to']) ? (string) $post['to'] : '';
            if (!isset(self::TARGETS[$to])) {
                return array(400, View::banner(false, 'Refused: ' . $to . ' is not a Reset target. Nothing was changed.'));
            }
            $run = $this->settings->starter()->action(array('reset', '--service-id', $id, '--to', $to));
            $what = 'Service #' . $id . ' reset to ' . $to;
        } elseif ($action === 'restore') {
            $run = $this->settings->starter()->action(array('restore', '--service-id', $id));
            $what = 'Service #' . $id . ' restored: its VM runs again; set the service back to Active';
        } elseif ($action === 'delete') {
            $run = $this->settings->starter()->action(array('delete-record', '--service-id', $id));
            $what = 'The VM record of service #' . $id . ' was deleted';
        } else {
            return array(400, View::banner(false, 'Refused: unknown action. Nothing was changed.'));
        }
        if ($run['result'] !== 'success') {
            return array(200, View::banner(false, 'Service #' . $id . ': ' . $run['result']));
        }
        $detail = trim(preg_replace('/^success\s*/', '', trim($run['stdout'])));
        return array(200, View::banner(true, $what . ($detail !== '' ? ': ' . $detail : '.')));
    }

    /** The list with its filters, pager and the three modals. */
    private function render(array $get)
    {
        $status = isset($get['status']) && in_array($get['status'], self::STATUSES, true) ? $get['status'] : '';
        $q = isset($get['q']) ? substr(trim((string) $get['q']), 0, 255) : '';
        $pageNo = isset($get['p']) && ctype_digit((string) $get['p']) && (int) $get['p'] > 0 ? (int) $get['p'] : 1;

        $args = array('list', '--limit', (string) self::PER_PAGE, '--offset', (string) (($pageNo - 1) * self::PER_PAGE));
        if ($status !== '') {
            array_push($args, '--vm-status', $status);
        }
        if ($q !== '') {
            array_push($args, '--search', $q);
        }
        $run = $this->settings->starter()->json($args);
        if ($run['result'] === 'success' && !$run['json']['rows'] && $pageNo > 1 && (int) $run['json']['total'] > 0) {
            // Past the last page (a bookmark, rows deleted since): show the last page.
            $pageNo = (int) ceil($run['json']['total'] / self::PER_PAGE);
            $args[4] = (string) (($pageNo - 1) * self::PER_PAGE);
            $run = $this->settings->starter()->json($args);
        }

        $html = '<h2>VM Management</h2>' . $this->filters($status, $q);
        if ($run['result'] !== 'success') {
            return $html . View::banner(false, 'The VM list could not be read: ' . $run['result']);
        }
        $doc = $run['json'];
        $total = (int) $doc['total'];
        $html .= '<table class="pt-table" id="pt-vms"><thead><tr><th>Service</th><th>Domain</th><th>VM</th><th>Status</th>'
            . '<th>Phase</th><th>Attempt</th><th>Last error</th><th>Updated (UTC)</th><th>Actions</th></tr></thead><tbody>';
        foreach ($doc['rows'] as $r) {
            $html .= $this->row($r);
        }
        if (!$doc['rows']) {
            $html .= '<tr><td colspan="9">No VM rows match.</td></tr>';
        }
        $html .= '</tbody></table>' . $this->pager($pageNo, $total, $status, $q);
        return $html . $this->modals() . $this->script() . View::actionScript();
    }

    private function filters($status, $q)
    {
        $opts = '<option value="">every status</option>';
        foreach (self::STATUSES as $s) {
            $opts .= '<option value="' . View::h($s) . '"' . ($s === $status ? ' selected' : '') . '>' . View::h($s) . '</option>';
        }
        return '<form method="get" action="addonmodules.php" class="pt-filters">'
            . '<input type="hidden" name="module" value="proxmoxterminate">'
            . '<label>Status <select name="status">' . $opts . '</select></label> '
            . '<label>Search <input type="search" name="q" value="' . View::h($q) . '" placeholder="service id, domain or IP" maxlength="255"></label> '
            . '<button type="submit">Filter</button></form>';
    }

    private function row(array $r)
    {
        $id = (int) $r['service_id'];
        $st = (string) $r['vm_status'];
        $vm = $r['vmid'] ? $r['node'] . '/' . $r['vmid'] : '—';
        $actions = '<button type="button" class="pt-log" data-service="' . $id . '">Log</button> '
            . '<button type="button" class="pt-reset" data-service="' . $id . '" data-status="' . View::h($st) . '">Reset</button>';
        if ($st === 'error_terminate' || $st === 'remove') {
            $actions .= ' <button type="button" class="pt-delete" data-service="' . $id . '" title="Delete Record">Delete Record</button>';
        }
        $until = '';
        if ($st === 'grace') {
            $actions .= ' ' . View::restoreButton($id);
            if (!empty($r['grace_until'])) {
                $until = ' <span class="pt-grace-until">until ' . View::h(gmdate('Y-m-d H:i', strtotime((string) $r['grace_until']))) . ' UTC</span>';
            }
        }
        $web = $this->settings->webui();
        if ($web !== '') {
            $actions .= ' <a href="' . View::h($web . '/' . rawurlencode((string) $r['workflow_id'])) . '" target="_blank" rel="noopener">Run</a>';
        }
        $updated = strtotime((string) $r['updated']);
        return '<tr data-service="' . $id . '">'
            . '<td><a href="clientsservices.php?id=' . $id . '">#' . $id . '</a></td>'
            . '<td>' . View::h($r['domain']) . '</td>'
            . '<td>' . View::h($vm) . '</td>'
            . '<td>' . View::badge($st) . $until . '</td>'
            . '<td>' . View::h($r['phase']) . '</td>'
            . '<td>' . (int) $r['attempt'] . '</td>'
            . '<td class="pt-err">' . View::h($r['last_error']) . '</td>'
            . '<td>' . ($updated > 0 ? View::h(gmdate('Y-m-d H:i', $updated)) : '') . '</td>'
            . '<td>' . $actions . '</td></tr>';
    }

    private function pager($pageNo, $total, $status, $q)
    {
        $pages = max(1, (int) ceil($total / self::PER_PAGE));
        $link = function ($p, $label) use ($status, $q) {
            $qs = http_build_query(array('module' => 'proxmoxterminate', 'status' => $status, 'q' => $q, 'p' => $p));
            return '<a href="addonmodules.php?' . View::h($qs) . '">' . View::h($label) . '</a>';
        };
        $html = '<div class="pt-pager">' . View::h(sprintf('%d rows · page %d of %d', $total, min($pageNo, $pages), $pages)) . ' ';
        if ($pageNo > 1) {
            $html .= $link($pageNo - 1, '‹ previous') . ' ';
        }
        if ($pageNo < $pages) {
            $html .= $link($pageNo + 1, 'next ›');
        }
        return $html . '</div>';
    }

    /** The Log, Reset and Delete Record modals, filled in by the script. */
    private function modals()
    {
        $targets = '';
        foreach (self::TARGETS as $t => $why) {
            $targets .= '<dt><label><input type="radio" name="to" value="' . View::h($t) . '"' . ($t === 'terminate' ? ' checked' : '')
                . '> ' . View::h($t) . '</label></dt><dd>' . View::h($why) . '</dd>';
        }
        $token = '<input type="hidden" name="token" value="' . View::h(Auth::token()) . '">';
        return '<dialog class="pt-dialog" id="pt-log-dialog"><h3>Action log of service <span class="pt-sid"></span></h3>'
            . '<div class="pt-body">Loading…</div><form method="dialog"><button>Close</button></form></dialog>'
            . '<dialog class="pt-dialog" id="pt-reset-dialog"><form method="post" action="' . View::h(View::PAGE) . '">' . $token
            . '<input type="hidden" name="action" value="reset"><input type="hidden" name="service" value="">'
            . '<h3>Reset VM status of service <span class="pt-sid"></span></h3>'
            . '<p>Reset applies to a row in error_terminate; a run that waits for an admin carries the reset out itself.</p>'
            . '<dl class="pt-targets">' . $targets . '</dl>'
            . '<button type="submit" class="pt-confirm">Reset</button> <button type="button" class="pt-close">Cancel</button></form></dialog>'
            . '<dialog class="pt-dialog" id="pt-delete-dialog"><form method="post" action="' . View::h(View::PAGE) . '">' . $token
            . '<input type="hidden" name="action" value="delete"><input type="hidden" name="service" value="">'
            . '<h3>Delete the VM record of service <span class="pt-sid"></span>?</h3>'
            . '<p class="pt-err"><strong>Warning:</strong> this removes the row from the VM table only. It does not touch Proxmox and does not change the service in WHMCS. '
            . 'Use it only when the VM is long gone from Proxmox and you want to clean up the leftover row.</p>'
            . '<button type="submit" class="pt-confirm">Delete Record</button> <button type="button" class="pt-close">Cancel</button></form></dialog>';
    }

    private function script()
    {
        return '<script>(function(){
function open(id, sid){var d=document.getElementById(id);d.querySelectorAll(".pt-sid").forEach(function(e){e.textContent="#"+sid});
var f=d.querySelector("input[name=service]");if(f){f.value=sid}d.showModal();return d}
document.querySelectorAll(".pt-dialog .pt-close").forEach(function(b){b.addEventListener("click",function(){b.closest("dialog").close()})});
document.querySelectorAll("button.pt-reset").forEach(function(b){b.addEventListener("click",function(){open("pt-reset-dialog",b.dataset.service)})});
document.querySelectorAll("button.pt-delete").forEach(function(b){b.addEventListener("click",function(){open("pt-delete-dialog",b.dataset.service)})});
document.querySelectorAll("button.pt-log").forEach(function(b){b.addEventListener("click",function(){
var d=open("pt-log-dialog",b.dataset.service),body=d.querySelector(".pt-body");body.textContent="Loading…";
fetch("' . View::PAGE . '&action=log&service="+encodeURIComponent(b.dataset.service),{credentials:"same-origin"})
.then(function(r){return r.text()}).then(function(t){body.innerHTML=t}).catch(function(e){body.textContent="The log could not be read: "+e})})});
})();</script>';
    }

    /** The Log modal's body for one service: every attempt, newest first. */
    public function log($serviceId)
    {
        $id = Starter::serviceId($serviceId);
        if ($id === null) {
            return View::banner(false, 'No valid service id.');
        }
        $run = $this->settings->starter()->json(array('log', '--service-id', $id));
        if ($run['result'] !== 'success') {
            return View::banner(false, $run['result']);
        }
        $attempts = array_reverse($run['json']['attempts']);
        if (!$attempts) {
            return '<p>No attempt has been logged yet.</p>';
        }
        $html = '';
        foreach ($attempts as $a) {
            $failed = $a['result'] !== 'success';
            if ($failed && $a['errors']) {
                $html .= View::banner(false, 'Attempt ' . (int) $a['attempt'] . ' failed: ' . $a['errors'][0]);
            }
            $html .= '<h4>Attempt ' . (int) $a['attempt'] . ' · ' . View::h($a['result']) . ' · phase ' . View::h($a['phase'])
                . ' · ' . View::h(sprintf('%.1f s', $a['duration_ms'] / 1000)) . ' · started ' . View::h($a['started_at']) . '</h4>';
            if (count($a['errors']) > ($failed ? 1 : 0)) {
                $html .= '<p>Errors:</p><pre>' . View::h(implode("\n", $a['errors'])) . '</pre>';
            }
            $html .= '<pre>' . View::h(implode("\n", $a['lines'])) . '</pre>';
        }
        return $html;
    }
}
