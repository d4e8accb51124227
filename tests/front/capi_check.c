/*
 * A small C user of libshoal, compiled and run by test_capi.py:
 *
 *   capi_check KEY=VALUE... -- COMMAND ARGS
 *
 * Commands: stat PATH | list PATH | files PATH | cat PATH | threads PATH N | missing PATH |
 *           load PATH | free PATH | counters | badconf
 * Output is plain text the test compares with the store's contents.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal.h"

static int fail(const char *what, shoal_error *err) {
  fprintf(stderr, "%s failed: kind %d: %s\n", what, err ? err->kind : -1,
          err && err->message ? err->message : "(no error)");
  shoal_error_free(err);
  return 1;
}

static void print_info(const shoal_file_info *i) {
  printf("%s %s %llu %s\n", i->is_dir ? "d" : "f", i->path, (unsigned long long)i->len,
         i->etag ? "etag" : "-");
}

struct job {
  shoal_file *file;
  uint64_t len;
  unsigned long long sum;
  int failed;
};

/* Reads the whole file in 64 KiB preads from its own thread; all threads share one handle. */
static void *reader(void *arg) {
  struct job *j = arg;
  unsigned char *buf = malloc(65536);
  for (uint64_t pos = 0; pos < j->len;) {
    shoal_error *err = NULL;
    int64_t n = shoal_pread(j->file, pos, buf, 65536, &err);
    if (n <= 0) {
      j->failed = 1;
      shoal_error_free(err);
      break;
    }
    for (int64_t k = 0; k < n; k++) j->sum += buf[k];
    pos += (uint64_t)n;
  }
  free(buf);
  return NULL;
}

int main(int argc, char **argv) {
  const char *keys[64], *values[64];
  size_t count = 0;
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq || count == 64) return 2;
    *eq = '\0';
    keys[count] = argv[i];
    values[count++] = eq + 1;
  }
  if (i + 1 >= argc) return 2;
  const char *cmd = argv[i + 1];
  const char *path = i + 2 < argc ? argv[i + 2] : "/";

  shoal_error *err = NULL;
  if (strcmp(cmd, "badconf") == 0) {
    const char *k[] = {"shoal.mount.x.path"};
    const char *v[] = {"/x"};
    shoal_fs *bad = shoal_fs_open(k, v, 1, SHOAL_OPEN_NO_ENV_CONF, &err);
    if (bad != NULL || err == NULL) return 1;
    printf("kind %d config %d: %s\n", err->kind, SHOAL_ERR_CONFIG, err->message);
    shoal_error_free(err);
    return 0;
  }
  shoal_fs *fs = shoal_fs_open(keys, values, count, SHOAL_OPEN_NO_ENV_CONF, &err);
  if (!fs) return fail("shoal_fs_open", err);
  int rc = 0;

  if (strcmp(cmd, "stat") == 0) {
    shoal_file_info *info = shoal_stat(fs, path, &err);
    if (!info) return fail("shoal_stat", err);
    print_info(info);
    shoal_file_info_free(info);
  } else if (strcmp(cmd, "list") == 0 || strcmp(cmd, "files") == 0) {
    shoal_listing *l = cmd[0] == 'l' ? shoal_list(fs, path, &err) : shoal_list_files(fs, path, &err);
    if (!l) return fail("listing", err);
    for (size_t k = 0; k < l->count; k++) print_info(&l->entries[k]);
    shoal_listing_free(l);
  } else if (strcmp(cmd, "cat") == 0) {
    shoal_file *f = shoal_open(fs, path, &err);
    if (!f) return fail("shoal_open", err);
    uint64_t len = shoal_file_len(f);
    unsigned char *buf = malloc(len + 1);
    int64_t n = shoal_pread(f, 0, buf, len + 1, &err); /* asks for one byte past the end */
    if (n < 0) return fail("shoal_pread", err);
    if ((uint64_t)n != len) { fprintf(stderr, "short read %lld of %llu\n", (long long)n, (unsigned long long)len); return 1; }
    if (shoal_pread(f, len, buf, 1, &err) != 0) { fprintf(stderr, "read at EOF is not 0\n"); return 1; }
    fwrite(buf, 1, (size_t)n, stdout);
    free(buf);
    shoal_file_close(f);
  } else if (strcmp(cmd, "threads") == 0) {
    int nthreads = atoi(argv[i + 3]);
    shoal_file *f = shoal_open(fs, path, &err);
    if (!f) return fail("shoal_open", err);
    shoal_fs_close(fs); /* the file stays usable after its filesystem is closed */
    fs = NULL;
    pthread_t t[64];
    struct job jobs[64];
    for (int k = 0; k < nthreads; k++) {
      jobs[k] = (struct job){f, shoal_file_len(f), 0, 0};
      pthread_create(&t[k], NULL, reader, &jobs[k]);
    }
    for (int k = 0; k < nthreads; k++) {
      pthread_join(t[k], NULL);
      if (jobs[k].failed) rc = 1;
      printf("%llu\n", jobs[k].sum);
    }
    shoal_file_close(f);
  } else if (strcmp(cmd, "missing") == 0) {
    shoal_file_info *info = shoal_stat(fs, path, &err);
    if (info || !err) return 1;
    printf("kind %d not_found %d: %s\n", err->kind, SHOAL_ERR_NOT_FOUND, err->message);
    shoal_error_free(err);
    err = NULL;
    shoal_file *f = shoal_open(fs, "/data", &err);
    if (f || !err) return 1;
    printf("kind %d is_a_directory %d\n", err->kind, SHOAL_ERR_IS_A_DIRECTORY);
    shoal_error_free(err);
    err = NULL;
    if (shoal_stat(fs, NULL, &err) || err->kind != SHOAL_ERR_INVALID_ARGUMENT) return 1;
    shoal_error_free(err);
    /* Without an error out-parameter the failure is still reported by the return value. */
    if (shoal_stat(fs, path, NULL) != NULL) return 1;
  } else if (strcmp(cmd, "load") == 0) {
    shoal_load_summary s;
    if (shoal_load(fs, path, &s, &err) != 0) return fail("shoal_load", err);
    printf("files %llu bytes %llu fetched %llu before %llu\n", (unsigned long long)s.files,
           (unsigned long long)s.bytes, (unsigned long long)s.fetched_bytes,
           (unsigned long long)s.cached_bytes_before);
    if (shoal_load(fs, path, &s, &err) != 0) return fail("shoal_load", err);
    printf("files %llu bytes %llu fetched %llu before %llu\n", (unsigned long long)s.files,
           (unsigned long long)s.bytes, (unsigned long long)s.fetched_bytes,
           (unsigned long long)s.cached_bytes_before);
  } else if (strcmp(cmd, "free") == 0) {
    uint64_t freed = 0;
    if (shoal_free(fs, path, &freed, &err) != 0) return fail("shoal_free", err);
    printf("freed %llu\n", (unsigned long long)freed);
  } else if (strcmp(cmd, "counters") == 0) {
    shoal_file *f = shoal_open(fs, path, &err);
    if (!f) return fail("shoal_open", err);
    unsigned char b[16];
    shoal_pread(f, 0, b, sizeof b, NULL);
    shoal_pread(f, 0, b, sizeof b, NULL);
    shoal_file_close(f);
    size_t n = shoal_counter_count();
    uint64_t *values = calloc(n, sizeof *values);
    uint64_t *process = calloc(n, sizeof *process);
    size_t got = shoal_fs_counters(fs, values, n);
    size_t gotp = shoal_process_counters(process, n);
    if (got != n || gotp != n || shoal_counter_name(n) != NULL) return 1;
    for (size_t k = 0; k < n; k++)
      printf("%s %llu %llu\n", shoal_counter_name(k), (unsigned long long)values[k], (unsigned long long)process[k]);
    free(values);
    free(process);
  } else {
    rc = 2;
  }
  shoal_fs_close(fs);
  if (strcmp(cmd, "cat") != 0) printf("version %s\n", shoal_version());
  return rc;
}
