package io.vq4j.tokenizer;

import java.util.Arrays;

/**
 * Repeatedly merges the adjacent pair with the lowest rank, the leftmost one on ties, until no
 * pair has a rule. This is both llama2.c's score-greedy loop (rank = dense rank of the merged
 * piece's score, so equal scores tie and the leftmost wins, as run.c's strict {@code >} does)
 * and Hugging Face's BPE word merge (unique ranks). Instead of rescanning the sequence after
 * each merge (O(n²), run.c) the symbols form a linked list and candidate pairs sit in a heap
 * keyed by (rank, position); stale heap entries are detected when popped by looking the pair
 * at that position up again.
 */
final class PairMerger {
    private PairMerger() {
    }

    static int[] merge(int[] symbols, PairTable rules) {
        int n = symbols.length;
        if (n < 2) {
            return symbols.clone();
        }
        int[] tok = symbols.clone();
        int[] next = new int[n];
        int[] prev = new int[n];
        LongHeap heap = new LongHeap(n);
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
            if (i + 1 < n) {
                push(heap, rules, tok, i, i + 1);
            }
        }
        int alive = n;
        while (!heap.isEmpty()) {
            long top = heap.pop();
            int pos = (int) top;
            int rank = (int) (top >>> 32);
            int right = next[pos];
            if (tok[pos] < 0 || right < 0) {
                continue;
            }
            long rule = rules.get(tok[pos], tok[right]);
            // A pair at this position with the same rank is the minimum of all live pairs,
            // whichever push produced the entry, so it is right to merge it now.
            if (rule == PairTable.MISSING || PairTable.rank(rule) != rank) {
                continue;
            }
            tok[pos] = PairTable.merged(rule);
            tok[right] = -1;
            int after = next[right];
            next[pos] = after;
            if (after >= 0) {
                prev[after] = pos;
                push(heap, rules, tok, pos, after);
            }
            if (prev[pos] >= 0) {
                push(heap, rules, tok, prev[pos], pos);
            }
            alive--;
        }
        int[] out = new int[alive];
        int k = 0;
        for (int i = 0; i >= 0; i = next[i]) {
            out[k++] = tok[i];
        }
        return out;
    }

    private static void push(LongHeap heap, PairTable rules, int[] tok, int left, int right) {
        long rule = rules.get(tok[left], tok[right]);
        if (rule != PairTable.MISSING) {
            heap.push(((long) PairTable.rank(rule) << 32) | left);
        }
    }

    /** A binary min-heap of longs. */
    private static final class LongHeap {
        private long[] a;
        private int size;

        LongHeap(int capacity) {
            a = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long v) {
            if (size == a.length) {
                a = Arrays.copyOf(a, a.length * 2);
            }
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (a[parent] <= v) {
                    break;
                }
                a[i] = a[parent];
                i = parent;
            }
            a[i] = v;
        }

        long pop() {
            long top = a[0];
            long last = a[--size];
            int i = 0;
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) {
                    break;
                }
                if (child + 1 < size && a[child + 1] < a[child]) {
                    child++;
                }
                if (a[child] >= last) {
                    break;
                }
                a[i] = a[child];
                i = child;
            }
            a[i] = last;
            return top;
        }
    }
}
