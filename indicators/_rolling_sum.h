/* indicators.rolling_sum.RollingSum in C: math.sum, TradingView's rolling compensated sum, one
 * value at a time. Shared by the compiled streaming set (_frame.c: its sums, smas and the EMAs'
 * seeds) and the compiled batch kernel (_kernels.c: kernels._rolling_sum is the same machine run
 * over a column). Each step is RollingSum.update's, operation for operation; see _frame.c for why
 * the bits agree. ``rs_init`` and ``rs_free`` need the GIL (PyMem); ``rs_update`` touches no
 * Python object and may run without it.
 */

#ifndef SMTBOT_ROLLING_SUM_H
#define SMTBOT_ROLLING_SUM_H

#include <Python.h>
#include <math.h>

#ifndef NA
#define NA NAN
#endif

typedef struct {
    int n, count, head;
    double sum, comp;
    double *stored, *raw;
} RollingSum;

static int rs_init(RollingSum *r, int n) {
    r->n = n;
    r->count = r->head = 0;
    r->sum = r->comp = 0.0;
    r->stored = PyMem_Calloc((size_t)n, sizeof(double));
    r->raw = PyMem_Calloc((size_t)n, sizeof(double));
    if (r->stored == NULL || r->raw == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void rs_free(RollingSum *r) {
    PyMem_Free(r->stored);
    PyMem_Free(r->raw);
    r->stored = r->raw = NULL;
}

static double rs_update(RollingSum *r, double x) {
    int n = r->n;
    if (x != x)
        return r->count >= n ? r->sum : NA;
    if (n == 1)
        return x;
    double c = r->comp;
    int h = r->head, count = r->count;
    double *raw = r->raw;
    raw[h] = x;
    int fires = 0;
    if (c != 0.0 && x != 0.0) {
        double b = c > 0.0 ? c : -c;
        double s = x + b;
        if (s != 0.0 && s - s == 0.0)
            fires = b - (s - x) > 0.0;
    }
    double s;
    if (fires) {
        s = x;
        int i = h;
        int older = count < n ? count : n - 1;
        for (int k = 0; k < older; k++) {
            i = i == 0 ? n - 1 : i - 1; /* Python's negative index wraps the ring */
            s = raw[i] + s;
        }
        r->comp = 0.0;
        r->stored[h] = x;
    } else {
        double s0 = r->sum;
        double y1 = -r->stored[h] - c;
        double t = s0 + y1;
        double e1 = (t - s0) - y1;
        double y2 = x - e1;
        s = t + y2;
        r->comp = (s - t) - y2;
        r->stored[h] = y2;
    }
    r->sum = s;
    h += 1;
    r->head = h == n ? 0 : h;
    if (count < n) {
        count += 1;
        r->count = count;
        if (count < n)
            return NA;
    }
    return s;
}

#endif
