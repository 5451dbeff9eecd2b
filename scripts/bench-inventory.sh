#!/usr/bin/env bash
# bench-inventory.sh: umbra-agent's inventory against Debian's
# fusioninventory-agent and ocsinventory-agent on this host, in the same
# run: wall time and peak RSS (GNU time), median of N runs each, the
# software entries each finds and the hardware/OS fields each fills from a
# fixed list (printed field by field at the end). Needs root for apt-get
# when a tool is missing.
#
#   scripts/bench-inventory.sh [runs]      (default 5)
#
# The peers run their local inventory only, written to a folder:
#   fusioninventory-agent --local DIR --tasks=inventory
#                         --no-category=process,environment
#   ocsinventory-agent --local=DIR
# fusioninventory skips the process and environment categories, which
# umbra does not collect: that makes it faster, never slower. Both peers
# get dmidecode and hdparm, which they recommend for hardware details.
# The runs are interleaved (umbra, fusion, ocs, umbra, …) so that load
# from other users of the machine falls on all three alike; the load
# average is printed with the table.
set -euo pipefail

runs=${1:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

need() { # need <command> <package>
	command -v "$1" >/dev/null 2>&1 && return
	echo "installing $2" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >"$work/apt.log" 2>&1 ||
		{ cat "$work/apt.log" >&2; exit 1; }
}
need fusioninventory-agent fusioninventory-agent
need ocsinventory-agent ocsinventory-agent
need dmidecode dmidecode
need hdparm hdparm
[ -x /usr/bin/time ] || need /usr/bin/time time
command -v go >/dev/null || { echo "go not found" >&2; exit 1; }
command -v python3 >/dev/null || need python3 python3

# Built as scripts/package.sh builds the shipped binary: static
# (CGO_ENABLED=0, no libc mapped: about 1 MiB less RSS) and stripped.
umbra="$work/umbra-agent"
(cd "$here/agent" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$umbra" ./cmd/umbra-agent)

# measure <name> <out-file> cmd...: appends "name wall_s rss_kib" to $work/runs
measure() {
	local name=$1 out=$2
	shift 2
	/usr/bin/time -v -o "$work/time.txt" "$@" >"$out" 2>"$work/stderr.txt" ||
		{ echo "$name failed:" >&2; cat "$work/stderr.txt" >&2; exit 1; }
	awk -v n="$name" '
		/Elapsed \(wall clock\)/ { t = $NF; k = split(t, p, ":"); s = 0; for (i = 1; i <= k; i++) s = s * 60 + p[i] }
		/Maximum resident set size/ { r = $NF }
		END { printf "%s %.3f %d\n", n, s, r }' "$work/time.txt" >>"$work/runs"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$work/fi" "$work/ocs"
for _ in $(seq "$runs"); do
	measure umbra "$work/umbra.json" "$umbra" inventory --json
	rm -f "$work/fi"/*
	measure fusioninventory "$work/fi.out" fusioninventory-agent --local "$work/fi" --tasks=inventory \
		--no-category=process,environment
	rm -f "$work/ocs"/*
	measure ocsinventory "$work/ocs.out" ocsinventory-agent --local="$work/ocs"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

median() { # median <name> <column>
	awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$work/runs" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# fields.py counts software entries and fills the fixed list of hardware
# and OS fields for each tool's last output.
cat >"$work/fields.py" <<'PY'
import json, sys, xml.etree.ElementTree as ET

# Values that say nothing: empty, "unknown" words, vendor placeholders,
# zero MACs, ocsinventory's "WORKGROUP" (its documented stand-in for "no
# domain"), NIC speeds of 0/-1, 1970 dates. Applied to every tool alike.
PLACEHOLDERS = {"", "n/a", "na", "none", "unknown", "not specified", "not available", "to be filled by o.e.m.",
                "default string", "system serial number", "system product name", "system manufacturer", "0",
                "-1", "0 mbps", "-1 mbps", "00:00:00:00:00:00", "workgroup", "1970-00-01", "1970-01-01"}

def filled(v):
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, list):
        return any(filled(x) for x in v)
    return str(v).strip().lower() not in PLACEHOLDERS

def jget(d, path):
    """Values at a dotted path; "x[]" walks a list."""
    vals = [d]
    for part in path.split("."):
        nxt = []
        for v in vals:
            if part.endswith("[]"):
                nxt.extend((v or {}).get(part[:-2]) or [] if isinstance(v, dict) else [])
            elif isinstance(v, dict):
                nxt.append(v.get(part))
        vals = nxt
    return vals

def xget(root, path):
    """Texts of CONTENT/<path>, every repeated section."""
    content = root.find("CONTENT")
    if content is None:
        return []
    return [e.text for e in content.findall(path)]

# field: (umbra JSON paths, fusioninventory XML paths, ocsinventory XML paths)
# The list is the issue's identity, hardware and OS fields, plus the
# network settings both peers report (gateway, DNS). FQDN counts only when
# it is dotted (a bare hostname repeats the hostname field).
FIELDS = [
    ("host id / machine id", ["host.host_id"], ["OPERATINGSYSTEM/HOSTID"], []),
    ("hostname", ["host.hostname"], ["HARDWARE/NAME"], ["HARDWARE/NAME"]),
    ("fqdn (dotted)", ["host.fqdn"], ["OPERATINGSYSTEM/FQDN"], []),
    ("domain or workgroup", ["host.domain", "host.workgroup"], ["OPERATINGSYSTEM/DNS_DOMAIN", "HARDWARE/WORKGROUP"], ["HARDWARE/WORKGROUP"]),
    ("system vendor", ["hardware.system.vendor"], ["BIOS/SMANUFACTURER"], ["BIOS/SMANUFACTURER"]),
    ("system model", ["hardware.system.model"], ["BIOS/SMODEL"], ["BIOS/SMODEL"]),
    ("system serial", ["hardware.system.serial"], ["BIOS/SSN"], ["BIOS/SSN"]),
    ("system uuid", ["hardware.system.uuid"], ["HARDWARE/UUID"], ["HARDWARE/UUID"]),
    ("chassis type", ["hardware.system.chassis"], ["HARDWARE/CHASSIS_TYPE", "BIOS/TYPE"], ["BIOS/TYPE"]),
    ("asset tag", ["hardware.system.asset_tag"], ["BIOS/ASSETTAG"], ["BIOS/ASSETTAG"]),
    ("bios vendor", ["hardware.bios.vendor"], ["BIOS/BMANUFACTURER"], ["BIOS/BMANUFACTURER"]),
    ("bios version", ["hardware.bios.version"], ["BIOS/BVERSION"], ["BIOS/BVERSION"]),
    ("bios date", ["hardware.bios.date"], ["BIOS/BDATE"], ["BIOS/BDATE"]),
    ("board vendor", ["hardware.baseboard.vendor"], ["BIOS/MMANUFACTURER"], ["BIOS/MMANUFACTURER"]),
    ("board model", ["hardware.baseboard.model"], ["BIOS/MMODEL"], ["BIOS/MMODEL"]),
    ("board serial", ["hardware.baseboard.serial"], ["BIOS/MSN"], ["BIOS/MSN"]),
    ("cpu model", ["cpu.model"], ["CPUS/NAME"], ["CPUS/TYPE"]),
    ("cpu cores", ["cpu.cores"], ["CPUS/CORE"], ["CPUS/CORES"]),
    ("cpu threads", ["cpu.threads"], ["CPUS/THREAD"], ["CPUS/THREADS", "CPUS/LOGICAL_CPUS"]),
    ("memory total", ["memory.total_bytes"], ["HARDWARE/MEMORY"], ["HARDWARE/MEMORY"]),
    ("memory modules", ["hardware.memory_modules[].size_bytes"], ["MEMORIES/CAPACITY"], ["MEMORIES/CAPACITY"]),
    ("disk model", ["hardware.disks[].model"], ["STORAGES/MODEL"], ["STORAGES/MODEL"]),
    ("disk serial", ["hardware.disks[].serial"], ["STORAGES/SERIALNUMBER", "STORAGES/SERIAL"], ["STORAGES/SERIALNUMBER"]),
    ("disk size", ["hardware.disks[].size_bytes"], ["STORAGES/DISKSIZE"], ["STORAGES/DISKSIZE"]),
    ("disk kind", ["hardware.disks[].kind"], ["STORAGES/TYPE"], ["STORAGES/TYPE"]),
    ("nic name", ["interfaces[].name"], ["NETWORKS/DESCRIPTION"], ["NETWORKS/DESCRIPTION"]),
    ("nic mac", ["interfaces[].mac"], ["NETWORKS/MACADDR"], ["NETWORKS/MACADDR"]),
    ("nic addresses", ["interfaces[].addrs"], ["NETWORKS/IPADDRESS", "NETWORKS/IPADDRESS6"], ["NETWORKS/IPADDRESS"]),
    ("nic speed", ["interfaces[].speed_mbps"], ["NETWORKS/SPEED"], ["NETWORKS/SPEED"]),
    ("nic kind (wired/wireless/virtual)", ["interfaces[].kind"], ["NETWORKS/TYPE"], ["NETWORKS/TYPE"]),
    ("default gateway", ["host.gateways"], ["HARDWARE/DEFAULTGATEWAY"], ["HARDWARE/DEFAULTGATEWAY"]),
    ("dns servers", ["host.dns_servers"], ["HARDWARE/DNS"], ["HARDWARE/DNS"]),
    ("monitors", ["hardware.monitors[].model", "hardware.monitors[].serial"], ["MONITORS/CAPTION", "MONITORS/SERIAL"], ["MONITORS/CAPTION", "MONITORS/SERIAL"]),
    ("batteries", ["hardware.batteries[].design_capacity"], ["BATTERIES/CAPACITY", "BATTERIES/NAME"], ["BATTERIES/CAPACITY", "BATTERIES/NAME"]),
    ("virtualization", ["host.virtualization"], ["HARDWARE/VMSYSTEM"], ["HARDWARE/VMSYSTEM"]),
    ("os name", ["os.platform"], ["OPERATINGSYSTEM/NAME", "HARDWARE/OSNAME"], ["HARDWARE/OSNAME"]),
    ("os version", ["os.version"], ["OPERATINGSYSTEM/VERSION"], ["HARDWARE/OSVERSION"]),
    ("os build", ["os.build"], [], []),
    ("kernel", ["os.kernel"], ["OPERATINGSYSTEM/KERNEL_VERSION"], []),
    ("architecture", ["os.arch"], ["OPERATINGSYSTEM/ARCH"], ["CPUS/CPUARCH"]),
    ("os install date", ["os.install_date"], ["OPERATINGSYSTEM/INSTALL_DATE"], ["HARDWARE/INSTALLDATE"]),
    ("last boot", ["host.boot_time"], ["OPERATINGSYSTEM/BOOT_TIME"], []),
    ("time zone", ["os.time_zone"], ["OPERATINGSYSTEM/TIMEZONE/NAME"], []),
]

umbra = json.load(open(sys.argv[1]))
fi = ET.parse(sys.argv[2]).getroot()
ocs = ET.parse(sys.argv[3]).getroot()

def fqdn_ok(vals):
    return any(filled(v) and "." in str(v) for v in vals)

rows = []
for name, up, fp, op in FIELDS:
    u = [v for p in up for v in jget(umbra, p)]
    f = [v for p in fp for v in xget(fi, p)]
    o = [v for p in op for v in xget(ocs, p)]
    check = fqdn_ok if name.startswith("fqdn") else (lambda vals: any(filled(v) for v in vals))
    rows.append((name, check(u), check(f), check(o)))

sw = (len(umbra.get("software") or []), len(xget(fi, "SOFTWARES")), len(xget(ocs, "SOFTWARES")))
hw = tuple(sum(r[i] for r in rows) for i in (1, 2, 3))
print("software", *sw)
print("hw_fields", *hw)
print("fields", len(FIELDS))
with open(sys.argv[4], "w") as out:
    mark = lambda b: "x" if b else "-"
    out.write("%-36s %6s %6s %6s\n" % ("field", "umbra", "fusion", "ocs"))
    for name, u, f, o in rows:
        out.write("%-36s %6s %6s %6s\n" % (name, mark(u), mark(f), mark(o)))
PY

python3 "$work/fields.py" "$work/umbra.json" "$work"/fi/*.ocs "$work"/ocs/*.ocs "$work/matrix.txt" >"$work/counts"
read -r _ us fs os_ <<<"$(grep '^software' "$work/counts")"
read -r _ uh fh oh <<<"$(grep '^hw_fields' "$work/counts")"
nf=$(awk '/^fields/ { print $2 }' "$work/counts")
usv=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("services") or []))' "$work/umbra.json")

printf '\ninventory of %s (%d cores), %d interleaved runs each, medians; load average %s before, %s after\n\n' \
	"$(hostname)" "$(nproc)" "$runs" "$load_before" "$load_after"
awk -v uw="$(median umbra 2)" -v ur="$(median umbra 3)" -v us="$us" -v uh="$uh" \
	-v fw="$(median fusioninventory 2)" -v fr="$(median fusioninventory 3)" -v fs="$fs" -v fh="$fh" \
	-v ow="$(median ocsinventory 2)" -v orr="$(median ocsinventory 3)" -v os="$os_" -v oh="$oh" -v nf="$nf" 'BEGIN {
	f = "%-28s %8s %13s %9s %10s\n"
	g = "%-28s %8.3f %13.1f %9d %7d/%d\n"
	r = "%-28s %8.3f %13.3f %9.3f %10.3f\n"
	printf f, "tool", "wall_s", "peak_rss_MiB", "software", "hw_fields"
	printf g, "umbra-agent", uw, ur / 1024, us, uh, nf
	printf g, "fusioninventory-agent", fw, fr / 1024, fs, fh, nf
	printf g, "ocsinventory-agent", ow, orr / 1024, os, oh, nf
	printf r, "ratio umbra/fusion", uw / fw, ur / fr, us / fs, uh / fh
	printf r, "ratio umbra/ocs", uw / ow, ur / orr, us / os, uh / oh
	# the best peer, target by target: the fastest, the lightest, the most
	bw = (fw < ow) ? fw : ow; br = (fr < orr) ? fr : orr
	bs = (fs > os) ? fs : os; bh = (fh > oh) ? fh : oh
	mw = (uw / bw <= 0.1) ? "yes" : "NO"; mr = (ur / br <= 0.25) ? "yes" : "NO"
	ms = (us >= bs) ? "yes" : "NO"; mh = (uh >= bh) ? "yes" : "NO"
	printf r, "ratio umbra/best peer", uw / bw, ur / br, us / bs, uh / bh
	printf "%-28s %8s %13s %9s %10s\n", "target", "<= 0.100", "<= 0.250", ">= 1", ">= 1"
	printf "%-28s %8s %13s %9s %10s\n", "met", mw, mr, ms, mh
}'
printf '\n(umbra also listed %d services)\n\nhardware and OS fields filled (x) on this host:\n\n' "$usv"
cat "$work/matrix.txt"
