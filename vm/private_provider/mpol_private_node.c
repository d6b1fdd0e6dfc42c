// SPDX-License-Identifier: GPL-2.0
/*
 * mpol_private_node - a private memory node without CXL hardware.
 *
 * Test provider for the "Private Memory Nodes" series (RFC v4, Gregory
 * Price).  The guest boots with memmap=SIZE!START over exactly the range
 * QEMU gave one CPU-less NUMA node, so that range is a non-busy e820
 * "Persistent Memory (legacy)" range and the node has no memory at boot.
 * At late_initcall time this driver hot-adds the range as N_MEMORY_PRIVATE
 * memory of that node and registers node_private_ops carrying the NP_OPS_*
 * flags named by the "ops" parameter.
 *
 * Kernel command line (all four are needed; nid=-1, the default, disables):
 *   memmap=256M!0x60000000 mpol_private_node.nid=2
 *   mpol_private_node.start=0x60000000 mpol_private_node.size=256M
 *   mpol_private_node.ops=mempolicy,migration
 *
 * Patch numbers below refer to "[RFC PATCH v4 NN/27]" of the series.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/compaction.h>
#include <linux/gfp.h>
#include <linux/init.h>
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/memory.h>
#include <linux/memory-tiers.h>
#include <linux/memory_hotplug.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/node_private.h>
#include <linux/nodemask.h>
#include <linux/numa.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/swap.h>

static int nid = NUMA_NO_NODE;
module_param(nid, int, 0444);
MODULE_PARM_DESC(nid, "node to make private (-1: do nothing)");

/* charp, not ullong, so that memparse suffixes (256M, 1G) work. */
static char *start;
module_param(start, charp, 0444);
MODULE_PARM_DESC(start, "physical start of the range (e.g. 0x60000000)");

static char *size;
module_param(size, charp, 0444);
MODULE_PARM_DESC(size, "size of the range (e.g. 256M)");

static char *ops;
module_param(ops, charp, 0444);
MODULE_PARM_DESC(ops, "comma-separated NP_OPS_* names: mempolicy, migration, demotion, protect_write, reclaim, oom_eligible, numa_balancing, compaction, longterm_pin");

/* Names of the NP_OPS_* flags of include/linux/node_private.h (patches 12-20). */
static const struct {
	const char *name;
	unsigned long flags;
} op_names[] = {
	{ "migration",		NP_OPS_MIGRATION },		/* patch 12 */
	{ "mempolicy",		NP_OPS_MEMPOLICY },		/* patch 13 */
	{ "demotion",		NP_OPS_DEMOTION },		/* patch 14 */
	{ "protect_write",	NP_OPS_PROTECT_WRITE },		/* patch 15 */
	{ "reclaim",		NP_OPS_RECLAIM },		/* patch 16 */
	/* patch 17: not a bit of its own, it is RECLAIM | DEMOTION */
	{ "oom_eligible",	NP_OPS_OOM_ELIGIBLE },
	{ "numa_balancing",	NP_OPS_NUMA_BALANCING },	/* patch 18 */
	{ "compaction",		NP_OPS_COMPACTION },		/* patch 19 */
	{ "longterm_pin",	NP_OPS_LONGTERM_PIN },		/* patch 20 */
};

/*
 * Target allocator for migrate_pages(): like alloc_migration_target()
 * (whose migration_target_control is mm-internal until patch 26 moves it),
 * with __GFP_PRIVATE so the N_MEMORY_PRIVATE gate of patch 02/03 lets the
 * allocation onto the node and __GFP_THISNODE so it never falls back.
 */
static struct folio *mpn_alloc_target(struct folio *src, unsigned long private)
{
	gfp_t gfp = GFP_HIGHUSER_MOVABLE | __GFP_THISNODE | __GFP_PRIVATE;
	unsigned int order = 0;

	/* hugetlb pools are never on a private node: refuse the folio. */
	if (folio_test_hugetlb(src))
		return NULL;

	if (folio_test_large(src)) {
		/* As alloc_migration_target(): a THP-style attempt, no reclaim. */
		gfp &= ~__GFP_RECLAIM;
		gfp |= GFP_TRANSHUGE;
		order = folio_order(src);
	}

	return __folio_alloc_node(gfp, order, (int)private);
}

/*
 * ops->migrate_to (patch 12): every migration onto the node goes through
 * here - migrate_pages(2), move_pages(2) and mbind(MPOL_MF_MOVE) via
 * migrate_folios_to_node(), demotion via node_private_migrate_to() in
 * vmscan (patch 14).  Plain page migration is all this memory needs.
 */
static int mpn_migrate_to(struct list_head *folios, int target,
			  enum migrate_mode mode, enum migrate_reason reason,
			  unsigned int *nr_succeeded)
{
	return migrate_pages(folios, mpn_alloc_target, NULL,
			     (unsigned long)target, mode, reason, nr_succeeded);
}

/*
 * ops->folio_migrate (patch 12/19): required with NP_OPS_MIGRATION.  The
 * memory is plain RAM with no PFN-keyed metadata, so nothing to update.
 */
static void mpn_folio_migrate(struct folio *src, struct folio *dst)
{
}

/*
 * Not const: flags come from the command line.  Set once before
 * node_private_set_ops() and never changed afterwards.
 *
 * No handle_fault: patch 15 calls it for *every* fault on a present
 * private-node PTE, not only for write faults, so setting it would take
 * over all fault handling.  Without it, protect_write only keeps
 * mprotect/NUMA hinting/migration from upgrading PTEs to writable; a write
 * fault still goes through do_wp_page() as usual.
 * No free_folio/folio_split/reclaim_policy/memory_failure: all optional,
 * NULL means core mm's default behaviour (patches 10, 11, 16, 21).
 */
static struct node_private_ops mpn_ops;

/* Driver-owned, must outlive the registration (patch 01): static. */
static struct node_private mpn_np;

static int __init parse_ops(const char *list, unsigned long *flags)
{
	char *buf, *cur, *name;
	int i, ret = 0;

	*flags = 0;
	if (!list || !*list)
		return 0;

	buf = kstrdup(list, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;

	cur = buf;
	while ((name = strsep(&cur, ",")) != NULL) {
		name = strim(name);
		if (!*name)
			continue;
		for (i = 0; i < ARRAY_SIZE(op_names); i++) {
			if (!strcmp(name, op_names[i].name)) {
				*flags |= op_names[i].flags;
				break;
			}
		}
		if (i == ARRAY_SIZE(op_names)) {
			pr_err("refused: unknown op '%s' in ops=%s\n", name, list);
			ret = -EINVAL;
			break;
		}
	}

	kfree(buf);
	return ret;
}

/* "migration,mempolicy,..." for the success line; "none" for no flags. */
static void __init format_ops(unsigned long flags, char *buf, size_t len)
{
	size_t used = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(op_names); i++) {
		/* oom_eligible is two bits; print the bits, not the alias. */
		if (hweight_long(op_names[i].flags) != 1 ||
		    !(flags & op_names[i].flags))
			continue;
		used += scnprintf(buf + used, len - used, "%s%s",
				  used ? "," : "", op_names[i].name);
	}
	if (!used)
		strscpy(buf, "none", len);
}

/*
 * The same flag rules node_private_set_ops() enforces (patches 12, 13, 15,
 * 18, 19), checked before the hot-add so that a bad ops= leaves the node
 * untouched instead of private with no ops.
 */
static int __init check_ops(unsigned long flags)
{
	if ((flags & NP_OPS_MEMPOLICY) && !(flags & NP_OPS_MIGRATION)) {
		pr_err("refused: ops mempolicy needs migration (patch 13)\n");
		return -EINVAL;
	}
	if ((flags & NP_OPS_MEMPOLICY) && (flags & NP_OPS_PROTECT_WRITE)) {
		pr_err("refused: ops mempolicy and protect_write exclude each other (patch 15)\n");
		return -EINVAL;
	}
	if ((flags & NP_OPS_NUMA_BALANCING) && !(flags & NP_OPS_MIGRATION)) {
		pr_err("refused: ops numa_balancing needs migration (patch 18)\n");
		return -EINVAL;
	}
	if ((flags & NP_OPS_COMPACTION) && !(flags & NP_OPS_MIGRATION)) {
		pr_err("refused: ops compaction needs migration (patch 19)\n");
		return -EINVAL;
	}
	return 0;
}

static int __init parse_size(const char *name, const char *val, u64 *out)
{
	char *end;

	if (!val || !*val) {
		pr_err("refused: %s= is not given\n", name);
		return -EINVAL;
	}
	*out = memparse(val, &end);
	if (*end) {
		pr_err("refused: %s=%s is not a number (0x hex, decimal, K/M/G suffix)\n",
		       name, val);
		return -EINVAL;
	}
	return 0;
}

static int __init check_range(u64 base, u64 len)
{
	u64 block = memory_block_size_bytes();
	int found;

	if (!len) {
		pr_err("refused: size=0\n");
		return -EINVAL;
	}
	if (base + len < base) {
		pr_err("refused: start + size overflows\n");
		return -EINVAL;
	}
	/* Memory hotplug works in whole memory blocks (drivers/base/memory.c). */
	if (!IS_ALIGNED(base, block) || !IS_ALIGNED(len, block)) {
		pr_err("refused: [mem %#llx-%#llx] not aligned to the memory block size %#llx\n",
		       base, base + len - 1, block);
		return -EINVAL;
	}
	/*
	 * Boot memory can never become private (patch 01: N_MEMORY and
	 * N_MEMORY_PRIVATE exclude each other): the range must not be System
	 * RAM, i.e. memmap=SIZE!START must have taken it out.
	 */
	if (region_intersects(base, len, IORESOURCE_SYSTEM_RAM,
			      IORES_DESC_NONE) != REGION_DISJOINT) {
		pr_err("refused: [mem %#llx-%#llx] overlaps System RAM (memmap=SIZE!START missing or wrong?)\n",
		       base, base + len - 1);
		return -EBUSY;
	}
	/* Only a warning: SRAT is what the harness read, the user may know better. */
	found = phys_to_target_node(base);
	if (found != NUMA_NO_NODE && found != nid)
		pr_warn("[mem %#llx-%#llx] belongs to node %d in the firmware tables, adding it to node %d\n",
			base, base + len - 1, found, nid);
	return 0;
}

static int __init mpol_private_node_init(void)
{
	char names[160];
	unsigned long flags;
	u64 base, len;
	int ret, err;

	if (nid == NUMA_NO_NODE)
		return 0;

	if (nid < 0 || nid >= MAX_NUMNODES || !node_possible(nid)) {
		pr_err("refused: node %d is not a possible node\n", nid);
		return -EINVAL;
	}
	if (node_state(nid, N_MEMORY)) {
		pr_err("refused: node %d already has memory (N_MEMORY)\n", nid);
		return -EBUSY;
	}

	ret = parse_size("start", start, &base);
	if (!ret)
		ret = parse_size("size", size, &len);
	if (!ret)
		ret = check_range(base, len);
	if (!ret)
		ret = parse_ops(ops, &flags);
	if (!ret)
		ret = check_ops(flags);
	if (ret)
		return ret;

	/* migrate_to is what both migration and demotion onto the node call. */
	if (flags & (NP_OPS_MIGRATION | NP_OPS_DEMOTION)) {
		mpn_ops.migrate_to = mpn_migrate_to;
		mpn_ops.folio_migrate = mpn_folio_migrate;
	}
	mpn_ops.flags = flags;
	mpn_np.owner = &mpn_np;

	/*
	 * Patch 22: registers mpn_np on the node (so onlining sets
	 * N_MEMORY_PRIVATE, not N_MEMORY) and then hot-adds and onlines the
	 * range.  MMOP_ONLINE_MOVABLE as the sample driver of patch 26 does:
	 * v4 has no private online type (__add_memory_driver_managed() takes
	 * only MMOP_OFFLINE..MMOP_ONLINE_MOVABLE); ZONE_MOVABLE keeps the
	 * range migratable and offlinable, and user and migration allocations
	 * (GFP_HIGHUSER_MOVABLE) can use it.  Online right away because
	 * nothing in userspace would online it (default online type is
	 * offline, and the series gives userspace no way to do it privately).
	 */
	ret = add_private_memory_driver_managed(nid, base, len,
						"System RAM (mpol_private_node)",
						MHP_NONE, MMOP_ONLINE_MOVABLE,
						&mpn_np);
	if (ret) {
		pr_err("refused: hot-adding [mem %#llx-%#llx] to node %d failed: %d\n",
		       base, base + len - 1, nid, ret);
		return ret;
	}

	/*
	 * Patch 01/12/13: ops after the memory, in patch 26's order; set_ops
	 * needs the node_private that patch 22 registered.  Until this call
	 * the node is private with no flags at all, which at late_initcall
	 * nobody can observe.
	 */
	ret = node_private_set_ops(nid, &mpn_ops);
	if (ret) {
		pr_err("refused: node_private_set_ops(node %d) failed: %d\n",
		       nid, ret);
		/* Patch 22: undo the hot-add (-EOPNOTSUPP without HOTREMOVE). */
		err = offline_and_remove_private_memory(nid, base, len);
		if (err)
			pr_err("node %d stays private with no ops: removing [mem %#llx-%#llx] failed: %d\n",
			       nid, base, base + len - 1, err);
		return ret;
	}

	/*
	 * Patch 14: demotion targets were computed when the node got its
	 * first memory, before it had flags; services must refresh them.
	 */
	if (flags & NP_OPS_DEMOTION)
		memory_tier_refresh_demotion();
	/*
	 * mm/memory_hotplug.c (patch 01/16/19) does not start kswapd or
	 * kcompactd on a private node; "the service decides".  Start them
	 * only for the services the node opted into.
	 */
	if (flags & NP_OPS_RECLAIM)
		kswapd_run(nid);
	if (flags & NP_OPS_COMPACTION)
		kcompactd_run(nid);

	format_ops(flags, names, sizeof(names));
	pr_info("node %d private, [mem %#llx-%#llx], ops=%s\n",
		nid, base, base + len - 1, names);
	return 0;
}
/* late: after node_dev_init() (node_private_register needs it) and memory-tiers. */
late_initcall(mpol_private_node_init);
