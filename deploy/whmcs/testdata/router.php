<?php
// `php -S` router for the browser tests: serves addonmodules.php (VM
// Management inside a bare admin page) and clientsservices.php (the service
// panel) through the shim, as admin SHIM_ADMIN.
require __DIR__ . '/shim.php';
shim_load_addon();
session_start();
$_SESSION['adminid'] = (int) getenv('SHIM_ADMIN');
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$body = '';
if ($path === '/addonmodules.php') {
    $vars = array();
    foreach (WHMCS\Database\Capsule::table('tbladdonmodules')->where('module', 'proxmoxterminate')->get() as $r) {
        $vars[$r->setting] = $r->value;
    }
    ob_start();
    proxmoxterminate_output($vars);
    $body = ob_get_clean();
} elseif ($path === '/clientsservices.php') {
    // As in WHMCS, the tab's fields sit inside the service's own form.
    $body .= '<form method="post" action="/clientsservices.php?action=save" id="servicecontent">';
    foreach (run_hook('AdminClientServicesTabFields', array('id' => (int) ($_GET['id'] ?? 0))) as $fields) {
        foreach ($fields as $label => $html) {
            $body .= '<div class="fieldlabel">' . htmlspecialchars($label) . '</div><div class="fieldarea">' . $html . '</div>';
        }
    }
    $body .= '<button type="submit">Save Changes</button></form>';
} else {
    http_response_code(404);
    exit;
}
echo '<!DOCTYPE html><html><head><meta charset="utf-8"><title>WHMCS admin (test)</title></head><body>', $body, '</body></html>';
