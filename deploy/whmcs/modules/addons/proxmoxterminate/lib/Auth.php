<?php
/**
 * Who may act, and the CSRF token every form carries.
 */

namespace ProxmoxTerminate;

use WHMCS\Database\Capsule;

final class Auth
{
    /** The logged-in admin's id, 0 when none. */
    public static function adminId()
    {
        return isset($_SESSION['adminid']) ? (int) $_SESSION['adminid'] : 0;
    }

    /**
     * Whether the logged-in admin's role is granted the addon (Setup →
     * Addon Modules → Access Control, stored as the "access" setting: a
     * comma-separated list of role ids).
     */
    public static function allowed()
    {
        $id = self::adminId();
        if ($id <= 0) {
            return false;
        }
        $role = Capsule::table('tbladmins')->where('id', $id)->where('disabled', 0)->value('roleid');
        if ($role === null) {
            return false;
        }
        $access = (string) Capsule::table('tbladdonmodules')->where('module', Settings::MODULE)
            ->where('setting', 'access')->value('value');
        return in_array((string) $role, array_map('trim', explode(',', $access)), true);
    }

    /** The admin session's CSRF token (WHMCS's own). */
    public static function token()
    {
        return (string) generate_token('plain');
    }

    /** Whether $given is the session's token. */
    public static function tokenMatches($given)
    {
        $want = self::token();
        return $want !== '' && is_string($given) && hash_equals($want, $given);
    }
}
