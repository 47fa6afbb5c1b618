<?php
/**
 * Escaping and the small pieces of markup the pages share. Every value that
 * reaches HTML goes through View::h (or View::attr, the same thing).
 */

namespace ProxmoxTerminate;

final class View
{
    const PAGE = 'addonmodules.php?module=proxmoxterminate';

    /** Statuses with a badge colour of their own; others are grey. */
    const BADGES = array(
        'terminate' => 'pt-badge-busy',
        'grace' => 'pt-badge-busy',
        'error_terminate' => 'pt-badge-error',
        'remove' => 'pt-badge-done',
        'ready' => 'pt-badge-ok',
    );

    public static function h($s)
    {
        return htmlspecialchars((string) $s, ENT_QUOTES | ENT_SUBSTITUTE | ENT_HTML5, 'UTF-8');
    }

    public static function badge($status)
    {
        $class = isset(self::BADGES[$status]) ? self::BADGES[$status] : 'pt-badge-other';
        return '<span class="pt-badge ' . $class . '" data-status="' . self::h($status) . '">'
            . self::h($status === '' ? '(none)' : $status) . '</span>';
    }

    /**
     * A button that POSTs $fields (and the CSRF token) to VM Management.
     * The service page renders its fields inside WHMCS's own form, where a
     * nested form would be dropped, so the button builds its form on click
     * (View::actionScript), after $confirm when that is not ''.
     */
    public static function actionButton(array $fields, $label, $class, $confirm = '')
    {
        return '<button type="button" class="pt-action ' . self::h($class) . '" data-pt-fields="' . self::h(json_encode($fields)) . '"'
            . ' data-pt-confirm="' . self::h($confirm) . '">' . self::h($label) . '</button>';
    }

    /** Restore, for a VM in its undo window (vm_status grace): `starter restore`. */
    public static function restoreButton($id)
    {
        return self::actionButton(array('action' => 'restore', 'service' => (int) $id), 'Restore', 'pt-restore',
            'Start the VM again and cancel its termination? Then set the service back to Active in WHMCS.');
    }

    /** The script behind actionButton; once per page. */
    public static function actionScript()
    {
        return '<script>(function(){document.querySelectorAll("button.pt-action").forEach(function(b){b.addEventListener("click",function(){
var c=b.dataset.ptConfirm;if(c&&!window.confirm(c)){return}
var f=document.createElement("form");f.method="post";f.action=' . json_encode(self::PAGE) . ';
var fields=JSON.parse(b.dataset.ptFields);fields.token=' . json_encode(Auth::token()) . ';
Object.keys(fields).forEach(function(k){var i=document.createElement("input");i.type="hidden";i.name=k;i.value=fields[k];f.appendChild(i)});
document.body.appendChild(f);f.submit()})})})();</script>';
    }

    public static function banner($ok, $text)
    {
        return '<div class="pt-banner ' . ($ok ? 'pt-banner-ok' : 'pt-banner-error') . '" role="status">' . self::h($text) . '</div>';
    }

    public static function css()
    {
        return '<style>
.pt-badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.pt-badge-busy{background:#2a7ab0}.pt-badge-error{background:#c9302c}.pt-badge-done{background:#6c757d}
.pt-badge-ok{background:#3c8d3c}.pt-badge-other{background:#8a6d3b}
.pt-table{border-collapse:collapse;width:100%;font-size:13px}.pt-table th,.pt-table td{border-bottom:1px solid #ddd;padding:6px;text-align:left;vertical-align:top}
.pt-err{color:#a94442;max-width:28em;word-break:break-word}.pt-inline{display:inline}
.pt-banner{padding:8px 12px;margin:8px 0;border-radius:4px}.pt-banner-ok{background:#dff0d8}.pt-banner-error{background:#f2dede;color:#a94442}
.pt-filters{margin:8px 0}.pt-pager{margin:8px 0}
dialog.pt-dialog{max-width:720px;width:90%;border:1px solid #999;border-radius:6px;padding:16px}
dialog.pt-dialog pre{max-height:300px;overflow:auto;background:#f7f7f7;padding:6px;white-space:pre-wrap}
.pt-targets dt{font-weight:600;margin-top:6px}.pt-targets dd{margin:0 0 4px 18px}
</style>';
    }
}
