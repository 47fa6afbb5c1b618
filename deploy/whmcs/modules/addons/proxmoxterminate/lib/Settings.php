<?php
/**
 * The addon's settings (Setup → Addon Modules → Proxmox Terminate →
 * Configure), as WHMCS stores them in tbladdonmodules.
 */

namespace ProxmoxTerminate;

use WHMCS\Database\Capsule;

final class Settings
{
    const MODULE = 'proxmoxterminate';

    /** @var array<string,string> */
    private $v;

    private function __construct(array $v)
    {
        $this->v = $v;
    }

    /** From the $vars WHMCS passes to the addon's _output function. */
    public static function fromArray(array $vars)
    {
        $v = array();
        foreach (array('starter', 'config', 'timeout', 'envfile', 'modules', 'webui', 'todo') as $k) {
            $v[$k] = isset($vars[$k]) ? trim((string) $vars[$k]) : '';
        }
        return new self($v);
    }

    /** From tbladdonmodules (hooks, which get no $vars of the addon). */
    public static function load()
    {
        $v = array();
        foreach (Capsule::table('tbladdonmodules')->where('module', self::MODULE)->get() as $row) {
            $v[$row->setting] = $row->value;
        }
        return self::fromArray($v);
    }

    public function starter()
    {
        return new Starter(
            $this->v['starter'] !== '' ? $this->v['starter'] : Starter::DEFAULT_BINARY,
            $this->v['config'] !== '' ? $this->v['config'] : Starter::DEFAULT_CONFIG,
            $this->v['timeout'] !== '' ? $this->v['timeout'] : (string) Starter::DEFAULT_TIMEOUT,
            $this->v['envfile']
        );
    }

    /** The provisioning modules whose terminate is handed off, lower case. */
    public function modules()
    {
        $out = array();
        foreach (preg_split('/[\s,]+/', strtolower($this->v['modules'])) as $m) {
            if ($m !== '') {
                $out[] = $m;
            }
        }
        return $out;
    }

    /** Whether services of a product with this module are handed off. */
    public function handsOff($module)
    {
        $module = strtolower(trim((string) $module));
        return $module !== '' && $module !== self::MODULE && in_array($module, $this->modules(), true);
    }

    /** The Temporal Web UI's workflows page, without a trailing slash ('' when unset). */
    public function webui()
    {
        $u = rtrim($this->v['webui'], '/');
        return preg_match('#^https?://#i', $u) ? $u : '';
    }

    /** Whether a failed termination creates a To-Do item. */
    public function todo()
    {
        return $this->v['todo'] === 'on' || $this->v['todo'] === '1' || $this->v['todo'] === 'yes';
    }
}
