/* The MRZ fast path's per-character work, compiled: character classes and ICAO 9303 check digits.
 *
 * Why C: `bench/mrz_parse` holds the parser to 10x the `mrz` package, about 6 us a document, and in
 * CPython the regular expression and the 7-3-1 sums alone cost 2-3 us. Everything that is a rule
 * (layouts, codes, dates, names, the overflow of long document numbers) stays in Python: the caller
 * passes the layout as two byte strings built from `edge.documents.layout`, so this file knows no
 * format. `edge.documents.fastpath._scan_py` is the same function in Python; tests hold them equal.
 *
 * scan(text, classes, checks) -> int | None
 *   text     the MRZ, lines joined by '\n'
 *   classes  one class code per position: L [A-Z<], A [A-Z0-9<], D [0-9], d [0-9<], S [MFX<], '\n'
 *   checks   per check: kind, check-digit position, number of ranges, then (start, end) per range;
 *            kind P plain; O may be '<' when all its data is '<'; N a document number whose '<'
 *            check digit means the overflow rule (ranges: the number, then the optional data)
 * Returns None when the text is not ASCII, has another length, or breaks a class (or a malformed
 * overflow); otherwise bit i set when check i verifies, plus (overflow cut + 1) << 8.
 *
 * lookalikes(data, cd, within) -> (count, (offset, character) | None)
 *   `edge.documents.checkdigit.lookalike_repairs` in C (tests hold them equal): how many single OCR-B
 *   look-alike substitutions in data[:within] make data's check digit cd, and the one when unique. In
 *   Python it costs 2-3 us, a third of a damaged document's parse.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static unsigned char allowed[128][128];   /* allowed[class][char] */
static unsigned char value[128];          /* check-digit value of a character, modulo 10 */
static const unsigned char weight[3] = {7, 3, 1};
/* OCR-B look-alike groups, as checkdigit.CONFUSION_GROUPS; lookalike[c] lists c's others in group order. */
static const char *const groups[] = {"0ODQ", "1IL", "2Z", "5S", "6G", "8B", "MHNW"};
static char lookalike[128][4];
static unsigned char in_alphabet[128];

static void build_tables(void)
{
    for (int c = 0; c < 128; c++) {
        int digit = c >= '0' && c <= '9', upper = c >= 'A' && c <= 'Z', filler = c == '<';
        allowed['L'][c] = upper || filler;
        allowed['A'][c] = upper || digit || filler;
        allowed['D'][c] = digit;
        allowed['d'][c] = digit || filler;
        allowed['S'][c] = c == 'M' || c == 'F' || c == 'X' || filler;
        allowed['\n'][c] = c == '\n';
        value[c] = digit ? (unsigned char)(c - '0') : upper ? (unsigned char)((c - 'A' + 10) % 10) : 0;
        in_alphabet[c] = digit || upper || filler;
    }
    for (size_t g = 0; g < sizeof groups / sizeof *groups; g++) {
        for (const char *c = groups[g]; *c; c++) {
            int k = 0;
            for (const char *a = groups[g]; *a; a++) {
                if (a != c) {
                    lookalike[(int)*c][k++] = *a;
                }
            }
        }
    }
}

/* Weighted sum over s[a:b), continuing the 7-3-1 cycle at *phase. */
static unsigned int weighted(const unsigned char *s, int a, int b, int *phase)
{
    unsigned int sum = 0;
    int p = *phase;
    for (int i = a; i < b; i++) {
        sum += value[s[i]] * weight[p];
        p = p == 2 ? 0 : p + 1;
    }
    *phase = p;
    return sum;
}

static PyObject *scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3 || !PyBytes_Check(args[1]) || !PyBytes_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "scan(text: str, classes: bytes, checks: bytes)");
        return NULL;
    }
    PyObject *text = args[0];
    if (!PyUnicode_Check(text)) {
        Py_RETURN_NONE;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) {
        return NULL;
    }
#endif
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (!PyUnicode_IS_ASCII(text) || n != PyBytes_GET_SIZE(args[1])) {
        Py_RETURN_NONE;
    }
    const unsigned char *s = PyUnicode_1BYTE_DATA(text);
    const unsigned char *cls = (const unsigned char *)PyBytes_AS_STRING(args[1]);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (cls[i] > 127 || !allowed[cls[i]][s[i]]) {
            Py_RETURN_NONE;
        }
    }

    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(args[2]);
    const unsigned char *end = p + PyBytes_GET_SIZE(args[2]);
    long bits = 0, cut = -1;
    for (int bit = 0; p < end; bit++) {
        if (end - p < 3 || end - p < 3 + 2 * p[2] || bit > 7) {
            PyErr_SetString(PyExc_ValueError, "malformed checks table");
            return NULL;
        }
        int kind = p[0], cd = p[1], nranges = p[2];
        const unsigned char *r = p + 3;
        p += 3 + 2 * nranges;
        if (cd >= n || (kind == 'N' && nranges != 2)) {
            PyErr_SetString(PyExc_ValueError, "malformed checks table");
            return NULL;
        }
        for (int j = 0; j < nranges; j++) {
            if (r[2 * j] > r[2 * j + 1] || r[2 * j + 1] > n) {
                PyErr_SetString(PyExc_ValueError, "malformed checks table");
                return NULL;
            }
        }
        int ok, phase = 0;
        if (kind == 'N' && s[cd] == '<') {
            /* Doc 9303 Part 5 4.2.2: the number's tail and its check digit open the optional data,
             * followed by '<'. Anything else is the full parser's to report. */
            int oa = r[2], ob = r[3], c = -1;
            for (int i = oa; i < ob; i++) {
                if (s[i] == '<') {
                    c = i - oa;
                    break;
                }
            }
            if (c <= 1 || s[oa + c - 1] < '0' || s[oa + c - 1] > '9') {
                Py_RETURN_NONE;
            }
            unsigned int sum = weighted(s, r[0], r[1], &phase) + weighted(s, oa, oa + c - 1, &phase);
            ok = sum % 10 == (unsigned int)(s[oa + c - 1] - '0');
            cut = c;
        } else if (kind == 'O' && s[cd] == '<') {
            ok = 1;
            for (int j = 0; j < nranges && ok; j++) {
                for (int i = r[2 * j]; i < r[2 * j + 1]; i++) {
                    if (s[i] != '<') {
                        ok = 0;
                        break;
                    }
                }
            }
        } else {
            unsigned int sum = 0;
            int used = kind == 'N' ? 1 : nranges;
            for (int j = 0; j < used; j++) {
                sum += weighted(s, r[2 * j], r[2 * j + 1], &phase);
            }
            ok = s[cd] >= '0' && s[cd] <= '9' && sum % 10 == (unsigned int)(s[cd] - '0');
        }
        bits |= (long)ok << bit;
    }
    return PyLong_FromLong(bits | ((cut + 1) << 8));
}

static PyObject *lookalikes(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 2 || nargs > 3 || !PyUnicode_Check(args[0]) || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "lookalikes(data: str, cd: str, within: int | None = None)");
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(args[0]) < 0 || PyUnicode_READY(args[1]) < 0) {
        return NULL;
    }
#endif
    PyObject *data = args[0], *cd = args[1];
    Py_ssize_t n = PyUnicode_GET_LENGTH(data), within = n;
    if (nargs == 3 && args[2] != Py_None) {
        within = PyLong_AsSsize_t(args[2]);
        if (within == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (within < 0) {
            PyErr_SetString(PyExc_ValueError, "within must not be negative");
            return NULL;
        }
        within = within < n ? within : n;
    }
    if (PyUnicode_GET_LENGTH(cd) != 1 || !PyUnicode_IS_ASCII(cd) || PyUnicode_1BYTE_DATA(cd)[0] < '0' ||
        PyUnicode_1BYTE_DATA(cd)[0] > '9') {
        PyErr_SetString(PyExc_ValueError, "the check digit must be one digit");
        return NULL;
    }
    const unsigned char *s = PyUnicode_1BYTE_DATA(data);
    if (!PyUnicode_IS_ASCII(data)) {
        PyErr_SetString(PyExc_ValueError, "data outside the MRZ alphabet");
        return NULL;
    }
    unsigned int sum = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!in_alphabet[s[i]]) {
            PyErr_SetString(PyExc_ValueError, "data outside the MRZ alphabet");
            return NULL;
        }
        sum += value[s[i]] * weight[i % 3];
    }
    int need = (int)((PyUnicode_1BYTE_DATA(cd)[0] - '0' + 10 - sum % 10) % 10);
    long count = 0;
    Py_ssize_t at = -1;
    char alt = 0;
    for (Py_ssize_t i = 0; i < within; i++) {
        for (const char *a = lookalike[s[i]]; a < lookalike[s[i]] + 4 && *a; a++) {
            if ((weight[i % 3] * (10 + value[(int)*a] - value[s[i]])) % 10 == need) {
                if (count++ == 0) {
                    at = i;
                    alt = *a;
                }
            }
        }
    }
    if (count != 1) {
        return Py_BuildValue("(lO)", count, Py_None);
    }
    return Py_BuildValue("(l(nC))", count, at, (int)alt);
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(text, classes, checks) -> int | None: character classes and check digits of one MRZ."},
    {"lookalikes", (PyCFunction)(void (*)(void))lookalikes, METH_FASTCALL,
     "lookalikes(data, cd, within=None) -> (count, (offset, character) | None): single look-alike repairs."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_mrzscan", "Compiled character classes and check digits for MRZ parsing.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__mrzscan(void)
{
    build_tables();
    return PyModule_Create(&module);
}
