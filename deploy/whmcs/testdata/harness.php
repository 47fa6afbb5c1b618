<?php
// Test harness: loads the module as WHMCS would (WHMCS defined, stubs for
// the WHMCS functions it uses), calls proxmoxterminate_TerminateAccount
// with the params in a JSON file, and prints one JSON object.
//
//   php harness.php MODULE.php PARAMS.json [nolog]
define('WHMCS', true);

$calls = array();
if (!isset($argv[3]) || $argv[3] !== 'nolog') {
    function logModuleCall($module, $action, $requestString, $responseData, $processedData = '', $replaceVars = array())
    {
        $GLOBALS['calls'][] = array(
            'module' => $module, 'action' => $action, 'request' => $requestString,
            'response' => $responseData, 'processed' => $processedData, 'replace' => $replaceVars,
        );
    }
}

require $argv[1];
$params = json_decode(file_get_contents($argv[2]), true);
$start = microtime(true);
$result = proxmoxterminate_TerminateAccount($params);
echo json_encode(array(
    'result' => $result,
    'type' => gettype($result),
    'elapsed' => microtime(true) - $start,
    'calls' => $calls,
)), "\n";
