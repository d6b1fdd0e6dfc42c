/* stands for mm/mempolicy.c: touching it must trigger a rebuild */
