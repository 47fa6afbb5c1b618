<?php
// A stand-in for Proxmox-VE-for-WHMCS's module: its TerminateAccount
// records that it ran (the hand-off must keep it from running).
function pvewhmcs_TerminateAccount(array $params)
{
    file_put_contents(getenv('SHIM_CALLS'), 'pvewhmcs_TerminateAccount ' . $params['serviceid'] . "\n", FILE_APPEND);
    return 'success';
}
