-- The two tables of The-Network-Crew's Proxmox-VE-for-WHMCS addon that the pvewhmcs VM source
-- reads, with the columns and types its modules/addons/pvewhmcs/db.sql declares. Tests only:
-- that module owns these tables; production code only ever SELECTs from them.
CREATE TABLE IF NOT EXISTS `mod_pvewhmcs_nodes` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `pve_id` int(11) NOT NULL,
  `pve_name` varchar(255) NOT NULL,
  `whmcs_id` int(11) NOT NULL,
  `title` varchar(255) NOT NULL,
  `ip` varchar(100) NOT NULL,
  `pve_ver` varchar(20) NOT NULL DEFAULT '9.0.0',
  `status` varchar(20) NOT NULL DEFAULT 'active',
  `max_guests` int(5) NOT NULL DEFAULT 20,
  `health` text DEFAULT NULL,
  `load_avg` varchar(100) DEFAULT NULL,
  `load_crs` varchar(255) DEFAULT NULL,
  `notifiers` text DEFAULT NULL,
  `resources` text DEFAULT NULL,
  `supports` varchar(255) NOT NULL DEFAULT 'vm,ct',
  `templates` varchar(1000) NOT NULL DEFAULT '',
  `created` datetime NOT NULL,
  PRIMARY KEY (`id`)
);
-- id is tblhosting.id; node_id is mod_pvewhmcs_nodes.id; vtype is qemu or lxc.
CREATE TABLE IF NOT EXISTS `mod_pvewhmcs_vms` (
  `id` int(10) unsigned NOT NULL,
  `vmid` int(10) unsigned DEFAULT NULL,
  `node_id` int(10) unsigned DEFAULT NULL,
  `user_id` int(10) unsigned NOT NULL,
  `vtype` varchar(255) NOT NULL,
  `ipaddress` varchar(255) NOT NULL,
  `subnetmask` varchar(255) NOT NULL,
  `gateway` varchar(255) NOT NULL,
  `created` datetime DEFAULT NULL,
  `v6prefix` varchar(128) DEFAULT NULL,
  PRIMARY KEY (`id`)
);
