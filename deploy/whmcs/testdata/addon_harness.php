<?php
// Runs one WHMCS event through the shim with the addon active and prints
// one JSON object:
//
//   php addon_harness.php terminate SERVICE_ID       the Terminate button
//   php addon_harness.php panel SERVICE_ID ADMIN_ID  the service page's panel
//   php addon_harness.php cron                       after a cron run
//   php addon_harness.php page ADMIN_ID QUERY        VM Management (GET), timed
//   php addon_harness.php log SERVICE_ID             the Log modal's body
require __DIR__ . '/shim.php';
shim_load_addon();

$out = array();
switch ($argv[1]) {
    case 'terminate':
        $out['result'] = shim_module_terminate($argv[2]);
        $out['module_calls'] = $GLOBALS['shim_module_calls'];
        break;
    case 'panel':
        $_SESSION['adminid'] = (int) $argv[3];
        $out['fields'] = array_values(array_filter(run_hook('AdminClientServicesTabFields', array('id' => (int) $argv[2]))));
        break;
    case 'cron':
        run_hook('AfterCronJob', array());
        break;
    case 'page':
        $_SESSION['adminid'] = (int) $argv[2];
        parse_str($argv[3] ?? '', $_GET);
        $vars = array();
        foreach (WHMCS\Database\Capsule::table('tbladdonmodules')->where('module', 'proxmoxterminate')->get() as $r) {
            $vars[$r->setting] = $r->value;
        }
        $start = microtime(true);
        ob_start();
        proxmoxterminate_output($vars);
        $out['html'] = ob_get_clean();
        $out['seconds'] = microtime(true) - $start;
        break;
    case 'post':
        // A POST to VM Management with the session's token, as the
        // panel's buttons send it.
        $_SESSION['adminid'] = (int) $argv[2];
        $_SESSION['tkval'] = 'harness-token';
        parse_str($argv[3] ?? '', $_POST);
        $_POST['token'] = 'harness-token';
        $_SERVER['REQUEST_METHOD'] = 'POST';
        $vars = array();
        foreach (WHMCS\Database\Capsule::table('tbladdonmodules')->where('module', 'proxmoxterminate')->get() as $r) {
            $vars[$r->setting] = $r->value;
        }
        ob_start();
        proxmoxterminate_output($vars);
        $out['html'] = ob_get_clean();
        break;
    case 'log':
        $page = new ProxmoxTerminate\Page(ProxmoxTerminate\Settings::load());
        $out['html'] = $page->log($argv[2]);
        break;
    default:
        fwrite(STDERR, "unknown event\n");
        exit(2);
}
echo json_encode((object) $out), "\n";
