/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private intrusive AVL tree shared by iova_alloc.c and cache.c.
 *
 * Invariants:
 * - In-order traversal is strictly increasing under the tree's comparator:
 *   keys are unique (callers break ties, e.g. by address).
 * - Every node's 'height' is 1 + max(height(left), height(right)), an empty
 *   subtree has height 0, and the heights of the two subtrees of any node
 *   differ by at most 1, so the depth is at most 1.44 log2(n + 2).
 * - No parent pointers: navigation (next/prev) searches from the root, which
 *   costs O(log n) per step and keeps a node at 3 words + an int.
 *
 * Concurrency: none; the owner of the tree serializes every call on it.
 * Recursion depth is bounded by the tree height (< 100 for any n < 2^64).
 */
#ifndef DMAC_AVL_H
#define DMAC_AVL_H

#include <stddef.h>

struct dmac__avl {
	struct dmac__avl *left;
	struct dmac__avl *right;
	int height;
};

/* Returns <0, 0, >0 as a orders before, equal to, after b. */
typedef int (*dmac__avl_cmp_fn)(const struct dmac__avl *a, const struct dmac__avl *b);

enum dmac__avl_mode {
	DMAC__AVL_EQ, /* the node equal to the key */
	DMAC__AVL_LE, /* the greatest node <= key */
	DMAC__AVL_LT, /* the greatest node < key */
	DMAC__AVL_GE, /* the smallest node >= key */
	DMAC__AVL_GT, /* the smallest node > key */
};

static inline int dmac__avl_h(const struct dmac__avl *n)
{
	return n ? n->height : 0;
}

static inline void dmac__avl_fix(struct dmac__avl *n)
{
	int l = dmac__avl_h(n->left), r = dmac__avl_h(n->right);

	n->height = 1 + (l > r ? l : r);
}

static inline struct dmac__avl *dmac__avl_rot_right(struct dmac__avl *n)
{
	struct dmac__avl *l = n->left;

	n->left = l->right;
	l->right = n;
	dmac__avl_fix(n);
	dmac__avl_fix(l);
	return l;
}

static inline struct dmac__avl *dmac__avl_rot_left(struct dmac__avl *n)
{
	struct dmac__avl *r = n->right;

	n->right = r->left;
	r->left = n;
	dmac__avl_fix(n);
	dmac__avl_fix(r);
	return r;
}

/* Restores the AVL property at n (its subtrees are balanced); returns the new root. */
static inline struct dmac__avl *dmac__avl_balance(struct dmac__avl *n)
{
	int bal;

	dmac__avl_fix(n);
	bal = dmac__avl_h(n->left) - dmac__avl_h(n->right);
	if (bal > 1) {
		if (dmac__avl_h(n->left->left) < dmac__avl_h(n->left->right))
			n->left = dmac__avl_rot_left(n->left);
		return dmac__avl_rot_right(n);
	}
	if (bal < -1) {
		if (dmac__avl_h(n->right->right) < dmac__avl_h(n->right->left))
			n->right = dmac__avl_rot_right(n->right);
		return dmac__avl_rot_left(n);
	}
	return n;
}

static inline struct dmac__avl *dmac__avl_insert_rec(struct dmac__avl *root, struct dmac__avl *node,
						     dmac__avl_cmp_fn cmp, int *dup)
{
	int c;

	if (!root) {
		node->left = node->right = NULL;
		node->height = 1;
		return node;
	}
	c = cmp(node, root);
	if (c == 0) {
		*dup = 1;
		return root;
	}
	if (c < 0)
		root->left = dmac__avl_insert_rec(root->left, node, cmp, dup);
	else
		root->right = dmac__avl_insert_rec(root->right, node, cmp, dup);
	return dmac__avl_balance(root);
}

/* Inserts node; returns 0, or -1 (tree unchanged) if an equal key is present. */
static inline int dmac__avl_insert(struct dmac__avl **root, struct dmac__avl *node,
				   dmac__avl_cmp_fn cmp)
{
	int dup = 0;

	*root = dmac__avl_insert_rec(*root, node, cmp, &dup);
	return dup ? -1 : 0;
}

/* Unlinks the minimum of the subtree into *min; returns the new subtree root. */
static inline struct dmac__avl *dmac__avl_take_min(struct dmac__avl *n, struct dmac__avl **min)
{
	if (!n->left) {
		*min = n;
		return n->right;
	}
	n->left = dmac__avl_take_min(n->left, min);
	return dmac__avl_balance(n);
}

static inline struct dmac__avl *dmac__avl_erase_rec(struct dmac__avl *root, struct dmac__avl *node,
						    dmac__avl_cmp_fn cmp, int *found)
{
	struct dmac__avl *min;
	int c;

	if (!root)
		return NULL;
	c = cmp(node, root);
	if (c < 0) {
		root->left = dmac__avl_erase_rec(root->left, node, cmp, found);
	} else if (c > 0) {
		root->right = dmac__avl_erase_rec(root->right, node, cmp, found);
	} else {
		*found = root == node;
		if (root != node)
			return root;
		if (!root->right)
			return root->left;
		root->right = dmac__avl_take_min(root->right, &min);
		min->left = root->left;
		min->right = root->right;
		root = min;
	}
	return dmac__avl_balance(root);
}

/* Removes node (which must be in the tree); returns 0, or -1 if it was not found. */
static inline int dmac__avl_erase(struct dmac__avl **root, struct dmac__avl *node,
				  dmac__avl_cmp_fn cmp)
{
	int found = 0;

	*root = dmac__avl_erase_rec(*root, node, cmp, &found);
	return found ? 0 : -1;
}

/* Searches for key (a node that need not be in the tree) under mode. */
static inline struct dmac__avl *dmac__avl_search(struct dmac__avl *root,
						 const struct dmac__avl *key, dmac__avl_cmp_fn cmp,
						 enum dmac__avl_mode mode)
{
	struct dmac__avl *best = NULL;
	int c;

	while (root) {
		c = cmp(key, root);
		if (c == 0) {
			if (mode == DMAC__AVL_EQ || mode == DMAC__AVL_LE || mode == DMAC__AVL_GE)
				return root;
			root = mode == DMAC__AVL_LT ? root->left : root->right;
		} else if (c < 0) {
			/* root > key */
			if (mode == DMAC__AVL_GE || mode == DMAC__AVL_GT)
				best = root;
			root = root->left;
		} else {
			/* root < key */
			if (mode == DMAC__AVL_LE || mode == DMAC__AVL_LT)
				best = root;
			root = root->right;
		}
	}
	return mode == DMAC__AVL_EQ ? NULL : best;
}

static inline struct dmac__avl *dmac__avl_first(struct dmac__avl *root)
{
	while (root && root->left)
		root = root->left;
	return root;
}

static inline struct dmac__avl *dmac__avl_last(struct dmac__avl *root)
{
	while (root && root->right)
		root = root->right;
	return root;
}

/*
 * Checks order and balance of a subtree, counting its nodes into *count.
 * Returns the height, or -1 if an invariant is broken.
 */
static inline int dmac__avl_check(const struct dmac__avl *n, dmac__avl_cmp_fn cmp,
				  const struct dmac__avl *lo, const struct dmac__avl *hi,
				  size_t *count)
{
	int l, r;

	if (!n)
		return 0;
	if ((lo && cmp(lo, n) >= 0) || (hi && cmp(n, hi) >= 0))
		return -1;
	l = dmac__avl_check(n->left, cmp, lo, n, count);
	r = dmac__avl_check(n->right, cmp, n, hi, count);
	if (l < 0 || r < 0 || l - r > 1 || r - l > 1 || n->height != 1 + (l > r ? l : r))
		return -1;
	(*count)++;
	return n->height;
}

#endif /* DMAC_AVL_H */
