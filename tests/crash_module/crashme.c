// SPDX-License-Identifier: GPL-2.0
/*
 * Crash the guest kernel on purpose, once, when loaded: the console logs the suite's crash
 * attribution is tested against come from real oopses and WARNs made by this module
 * (Debian's kernels ship without lkdtm). Never load it outside a throwaway VM.
 *
 *   insmod crashme.ko action=oops   NULL pointer dereference: an oops, insmod is killed
 *   insmod crashme.ko action=warn   WARN(): a warning with a backtrace, load then fails
 *   insmod crashme.ko action=panic  panic()
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/string.h>

static char *action = "warn";
module_param(action, charp, 0444);
MODULE_PARM_DESC(action, "oops, warn or panic");

static int __init crashme_init(void)
{
	if (!strcmp(action, "oops")) {
		/* volatile: the compiler must not prove the store undefined and drop it */
		int *volatile nowhere = NULL;

		*nowhere = 1;
	} else if (!strcmp(action, "warn")) {
		WARN(1, "crashme: a warning on purpose\n");
	} else if (!strcmp(action, "panic")) {
		panic("crashme: a panic on purpose");
	}
	return -ECANCELED; /* nothing to keep loaded */
}

module_init(crashme_init);
MODULE_DESCRIPTION("Crash the kernel on purpose, for the suite's crash-path fixtures");
MODULE_LICENSE("GPL");
