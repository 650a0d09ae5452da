/*
 * Private entry points of the CSV writer, for csv_json.c: a field written in pieces (a JSON
 * container is serialized straight into the writer) and a field written without the formula
 * guard (JSON numbers are data, not formulas).
 */
#ifndef CF_DATA_CSV_H
#define CF_DATA_CSV_H

#include "calcifer/csv.h"

/* 1 when a field of these bytes must be quoted (a comma, a quote, CR or LF in it). */
int cf__csv_needs_quotes(const char *p, size_t len);

/* cf_csv_write_field with the guard chosen by the caller instead of by the flags. */
int cf__csv_write_field_guard(cf_csv_writer *w, const char *p, size_t len, int guard);

/*
 * Start a field whose bytes follow through cf__csv_field_append, quoted when `quote` is
 * non-zero or CF_CSV_QUOTE_ALL is set; cf__csv_field_close ends it. No formula guard.
 * Each returns 0 or the writer's sticky error.
 */
int cf__csv_field_open(cf_csv_writer *w, int quote);
int cf__csv_field_append(cf_csv_writer *w, const char *p, size_t len);
int cf__csv_field_close(cf_csv_writer *w);

/*
 * cf_csv_write_json_record with the column values already looked up: values[i] (NULL for a
 * missing one) is written as that function writes the value at column i, then the record ends.
 */
struct cf_json;
int cf__csv_write_json_values(cf_csv_writer *w, const struct cf_json *const *values, size_t n);

#endif
