<?php
// Loads the addon's classes (no autoloader: WHMCS's own is not ours to extend).
foreach (array('Starter', 'Settings', 'Auth', 'View', 'Handoff', 'Page', 'Panel', 'Todo') as $class) {
    require_once __DIR__ . '/' . $class . '.php';
}
