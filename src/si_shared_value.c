/* si_shared_value.c — the encoding of shared values (see si_shared_value.h).
 *
 * One tag byte, then: nothing (None, True, False); 8 bytes (an int that fits 64 bits, in the
 * layout si_cache_incr works on; a float's IEEE bits); or a 4-byte length and that many bytes
 * (bytes, str as UTF-8 with surrogatepass, a larger int as little-endian two's complement), or
 * for a tuple its item count and the items.  Lengths and numbers are little-endian.
 */
#include "si_shared_value.h"
#include "si_shared_store.h"

#define TAG_NONE 'N'
#define TAG_TRUE 'T'
#define TAG_FALSE 'F'
#define TAG_INT SI_VALUE_INT64
#define TAG_BIGINT 'L'
#define TAG_FLOAT 'f'
#define TAG_BYTES 'b'
#define TAG_STR 's'
#define TAG_TUPLE 't'

#define MAX_DEPTH 32

static const char *const shareable = "bytes, str, int, float, bool, None and tuples of them";

/* str as UTF-8: the cached form when the text has no lone surrogates (almost always), else a
 * surrogatepass encoding in *owned. */
static const char *text_bytes(PyObject *obj, Py_ssize_t *len, PyObject **owned)
{
    *owned = NULL;
    const char *utf8 = PyUnicode_AsUTF8AndSize(obj, len);
    if (utf8)
        return utf8;
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
        return NULL;
    PyErr_Clear();
    *owned = PyUnicode_AsEncodedString(obj, "utf-8", "surrogatepass");
    if (!*owned)
        return NULL;
    *len = PyBytes_GET_SIZE(*owned);
    return PyBytes_AS_STRING(*owned);
}

static Py_ssize_t too_big(void)
{
    PyErr_Format(PyExc_ValueError, "mod_subinterp.shared: a value whose encoding is over %zd "
                 "bytes", SI_VALUE_MAX);
    return -1;
}

/* A tag, a 4-byte length and n bytes. */
static Py_ssize_t sized(Py_ssize_t n)
{
    return n > SI_VALUE_MAX - 5 ? too_big() : 5 + n;
}

static Py_ssize_t size_of(PyObject *obj, int depth)
{
    if (obj == Py_None || obj == Py_True || obj == Py_False)
        return 1;
    if (PyLong_CheckExact(obj)) {
        int overflow;
        (void)PyLong_AsLongLongAndOverflow(obj, &overflow);
        if (!overflow)
            return SI_VALUE_INT64_SIZE;
        Py_ssize_t n = PyLong_AsNativeBytes(obj, NULL, 0, Py_ASNATIVEBYTES_LITTLE_ENDIAN);
        return n < 0 ? -1 : sized(n);
    }
    if (PyFloat_CheckExact(obj))
        return 9;
    if (PyBytes_CheckExact(obj))
        return sized(PyBytes_GET_SIZE(obj));
    if (PyUnicode_CheckExact(obj)) {
        PyObject *owned;
        Py_ssize_t len;
        if (!text_bytes(obj, &len, &owned))
            return -1;
        Py_XDECREF(owned);
        return sized(len);
    }
    if (PyTuple_CheckExact(obj)) {
        if (depth >= MAX_DEPTH) {
            PyErr_Format(PyExc_ValueError, "mod_subinterp.shared: tuples nested more than %d "
                         "deep", MAX_DEPTH);
            return -1;
        }
        /* Nested tuples may repeat one large object many times: each item is at most
         * SI_VALUE_MAX and so is the total before it, so the sum cannot wrap before the check. */
        Py_ssize_t total = 5;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(obj); i++) {
            Py_ssize_t n = size_of(PyTuple_GET_ITEM(obj, i), depth + 1);
            if (n < 0)
                return -1;
            if (n > SI_VALUE_MAX - total)
                return too_big();
            total += n;
        }
        return total;
    }
    PyErr_Format(PyExc_TypeError, "mod_subinterp.shared: cannot share a value of type '%s' "
                 "(shared by value: %s, exactly)", Py_TYPE(obj)->tp_name, shareable);
    return -1;
}

Py_ssize_t si_value_size(PyObject *obj)
{
    return size_of(obj, 0);
}

static unsigned char *put_u32(unsigned char *out, uint32_t n)
{
    for (int i = 0; i < 4; i++)
        *out++ = (unsigned char)(n >> (8 * i));
    return out;
}

static uint32_t get_u32(const unsigned char *in)
{
    return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16
           | (uint32_t)in[3] << 24;
}

static unsigned char *put_chunk(unsigned char *out, char tag, const void *data, size_t len)
{
    *out++ = (unsigned char)tag;
    out = put_u32(out, (uint32_t)len);
    memcpy(out, data, len);
    return out + len;
}

static unsigned char *write_value(PyObject *obj, unsigned char *out)
{
    if (obj == Py_None || obj == Py_True || obj == Py_False) {
        *out++ = obj == Py_None ? TAG_NONE : obj == Py_True ? TAG_TRUE : TAG_FALSE;
        return out;
    }
    if (PyLong_CheckExact(obj)) {
        int overflow;
        long long n = PyLong_AsLongLongAndOverflow(obj, &overflow);
        if (!overflow) {
            uint64_t u = (uint64_t)n;
            *out++ = TAG_INT;
            for (int i = 0; i < 8; i++)
                *out++ = (unsigned char)(u >> (8 * i));
            return out;
        }
        Py_ssize_t len = PyLong_AsNativeBytes(obj, NULL, 0, Py_ASNATIVEBYTES_LITTLE_ENDIAN);
        if (len < 0)
            return NULL;
        *out++ = TAG_BIGINT;
        out = put_u32(out, (uint32_t)len);
        if (PyLong_AsNativeBytes(obj, out, len, Py_ASNATIVEBYTES_LITTLE_ENDIAN) < 0)
            return NULL;
        return out + len;
    }
    if (PyFloat_CheckExact(obj)) {
        double d = PyFloat_AS_DOUBLE(obj);
        *out++ = TAG_FLOAT;
        memcpy(out, &d, 8);
        return out + 8;
    }
    if (PyBytes_CheckExact(obj))
        return put_chunk(out, TAG_BYTES, PyBytes_AS_STRING(obj), PyBytes_GET_SIZE(obj));
    if (PyUnicode_CheckExact(obj)) {
        PyObject *owned;
        Py_ssize_t len;
        const char *text = text_bytes(obj, &len, &owned);
        if (!text)
            return NULL;   /* e.g. out of memory for the surrogatepass copy */
        out = put_chunk(out, TAG_STR, text, len);
        Py_XDECREF(owned);
        return out;
    }
    /* a tuple: size_of let nothing else through */
    *out++ = TAG_TUPLE;
    out = put_u32(out, (uint32_t)PyTuple_GET_SIZE(obj));
    for (Py_ssize_t i = 0; out && i < PyTuple_GET_SIZE(obj); i++)
        out = write_value(PyTuple_GET_ITEM(obj, i), out);
    return out;
}

int si_value_write(PyObject *obj, unsigned char *out)
{
    return write_value(obj, out) ? 0 : -1;
}

static PyObject *malformed(void)
{
    PyErr_SetString(PyExc_SystemError, "mod_subinterp.shared: a stored value is malformed");
    return NULL;
}

/* Reads one value at *in (at most end), advancing *in. */
static PyObject *read_value(const unsigned char **in, const unsigned char *end, int depth)
{
    if (*in >= end || depth > MAX_DEPTH)
        return malformed();
    unsigned char tag = *(*in)++;
    switch (tag) {
    case TAG_NONE:
        Py_RETURN_NONE;
    case TAG_TRUE:
        Py_RETURN_TRUE;
    case TAG_FALSE:
        Py_RETURN_FALSE;
    case TAG_INT:
    case TAG_FLOAT: {
        if (end - *in < 8)
            return malformed();
        const unsigned char *v = *in;
        *in += 8;
        if (tag == TAG_FLOAT) {
            double d;
            memcpy(&d, v, 8);
            return PyFloat_FromDouble(d);
        }
        uint64_t u = 0;
        for (int i = 7; i >= 0; i--)
            u = (u << 8) | v[i];
        return PyLong_FromLongLong((long long)u);
    }
    case TAG_BIGINT:
    case TAG_BYTES:
    case TAG_STR:
    case TAG_TUPLE: {
        if (end - *in < 4)
            return malformed();
        uint32_t n = get_u32(*in);
        *in += 4;
        if (tag == TAG_TUPLE) {
            if ((size_t)(end - *in) < n)   /* every item takes at least one byte */
                return malformed();
            PyObject *tuple = PyTuple_New(n);
            for (uint32_t i = 0; tuple && i < n; i++) {
                PyObject *item = read_value(in, end, depth + 1);
                if (!item)
                    Py_CLEAR(tuple);
                else
                    PyTuple_SET_ITEM(tuple, i, item);
            }
            return tuple;
        }
        if ((size_t)(end - *in) < n)
            return malformed();
        const char *data = (const char *)*in;
        *in += n;
        if (tag == TAG_BYTES)
            return PyBytes_FromStringAndSize(data, n);
        if (tag == TAG_STR)
            return PyUnicode_DecodeUTF8(data, n, "surrogatepass");
        return PyLong_FromNativeBytes(data, n, Py_ASNATIVEBYTES_LITTLE_ENDIAN);
    }
    default:
        return malformed();
    }
}

PyObject *si_value_read(const unsigned char *in, size_t len)
{
    const unsigned char *end = in + len;
    PyObject *value = read_value(&in, end, 0);
    if (value && in != end) {
        Py_DECREF(value);
        return malformed();
    }
    return value;
}
