/*
 * vfs.c - the encrypting SQLite VFS shim.
 *
 * Divisions:
 *   1. the shim objects and the inner method table (fault injection)
 *   2. main database: whole pages, any read shape, no holes
 *   3. rollback journal: page images after their page number
 *   4. WAL: page images inside frames, page number from the frame header
 *   5. the remaining sqlite3_io_methods (mmap refused)
 *   6. the sqlite3_vfs methods and registration
 *
 * The shim sees SQLite's file traffic as (offset, length) pairs; it never
 * learns page numbers from SQLite directly, so it derives them:
 *   - main database: page = offset / page size + 1;
 *   - rollback journal: each record is u32 page number, page image,
 *     u32 checksum, with records starting 8-byte aligned after
 *     sector-aligned headers, so a page image is a page-sized access at
 *     an offset = 4 (mod 8), and its page number the 4 bytes before it;
 *   - WAL: a 32-byte header, then frames of a 24-byte header (page number
 *     first) and a page image, so geometry gives the frame and the frame
 *     header gives the page number.
 * Everything else (journal and WAL headers, frame headers, checksums) is
 * SQLite's bookkeeping and is passed through unchanged: page numbers,
 * salts, counters, and SQLite's non-cryptographic checksums of the
 * plaintext (see store/README-section.md for what that reveals).
 *
 * Checkpoints move sealed images, not plaintext.  SQLite brackets the
 * copy loop of a checkpoint with SQLITE_FCNTL_CKPT_START and _CKPT_DONE
 * on the database file, and inside it does nothing but read a frame's
 * image from the WAL and write it to the database.  A WAL image and a
 * database page share associated data (page.c), so there the shim checks
 * the frame's tag (store_page_verify(), no decryption), hands SQLite the
 * sealed image and writes it to the database as it is: a third of the
 * crypto of decrypting and re-encrypting.  The write is taken as a copy
 * only if it is byte for byte the image just handed out, for the same
 * page; anything else written in that window is refused, so nothing can
 * ever reach the database unencrypted this way.
 *
 * A page image that fails authentication is never returned to SQLite;
 * the read fails with SQLITE_IOERR_DATA and the fault is remembered so
 * store_sqlite_err() can name the page.  One exception: a whole-frame WAL
 * read (WAL recovery scanning the log) of a frame that a crash tore or
 * left uncommitted gets a zeroed page and a frame header whose salt no
 * longer matches, so SQLite ends the log there exactly as its checksum
 * would over the torn bytes.  Which frames those are is decided in
 * wal.c: a frame the log goes on from to a later commit was altered,
 * and fails.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "store/store_impl.h"

/* ---- 1. objects ------------------------------------------------------ */

struct store_vfs {
	sqlite3_vfs	 base;		/* what SQLite sees; must be first */
	sqlite3_vfs	*inner;		/* the VFS we sit on (method table) */
	uint8_t		*key;		/* page key, sodium_malloc, 32 bytes */
	uint8_t		 file_id[STORE_FILE_ID_BYTES];
	char		 name[48];	/* "cloister-<n>" */
	bool		 registered;	/* sqlite3_vfs_register() done */
	bool		 has_fault;	/* `fault` is set */
	struct store_fault fault;	/* last authentication failure */
	bool		 ckpt;		/* inside a checkpoint's copy loop */
	bool		 ckpt_have;	/* ckpt_img holds the image to write */
	uint32_t	 ckpt_pgno;	/* its page number */
	uint8_t		*ckpt_img;	/* a sealed image handed to SQLite */
};

struct cfile {
	sqlite3_file	 base;		/* pMethods; must be first */
	struct store_vfs *vfs;		/* owning shim */
	sqlite3_file	*real;		/* inner file, after this struct */
	enum store_kind	 kind;		/* what this file holds */
	uint8_t		*buf;		/* scratch: one WAL frame */
	sqlite3_int64	 u32_off;	/* offset of the last 4-byte write */
	uint32_t	 u32_val;	/* and its value (journal page number) */
	sqlite3_int64	 fh_off;	/* offset of the last frame header write */
	uint32_t	 fh_pgno;	/* and its page number */
	sqlite3_int64	 size;		/* database size, if size_known */
	bool		 size_known;	/* inside a checkpoint window only */
};

static sqlite3_vfs *inner_override;
static unsigned vfs_counter;

void
store_vfs_set_inner(sqlite3_vfs *inner)
{
	inner_override = inner;
}

const char *
store_kind_name(enum store_kind kind)
{
	switch (kind) {
	case STORE_KIND_DB:
		return "database";
	case STORE_KIND_JOURNAL:
		return "journal";
	case STORE_KIND_WAL:
		return "WAL";
	}
	return "?";
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
note_fault(struct cfile *f, uint32_t pgno, sqlite3_int64 off)
{
	struct store_vfs *v = f->vfs;

	v->has_fault = true;
	v->fault.kind = f->kind;
	v->fault.pgno = pgno;
	v->fault.offset = (uint64_t)off;
}

bool
store_vfs_take_fault(struct store_vfs *v, struct store_fault *out)
{
	bool had = v->has_fault;

	if (had && out != NULL)
		*out = v->fault;
	v->has_fault = false;
	return had;
}

static int
real_read(struct cfile *f, void *p, int n, sqlite3_int64 off)
{
	return f->real->pMethods->xRead(f->real, p, n, off);
}

static int
real_write(struct cfile *f, const void *p, int n, sqlite3_int64 off)
{
	return f->real->pMethods->xWrite(f->real, p, n, off);
}

/*
 * Read and decrypt one page image at `off` into `out`.  Returns SQLITE_OK,
 * SQLITE_IOERR_SHORT_READ (out zero-filled: the image is missing or cut
 * short at the end of the file), SQLITE_IOERR_DATA (fault noted) or the
 * inner error.
 */
static int
read_image(struct cfile *f, uint8_t *out, sqlite3_int64 off, uint32_t pgno)
{
	int rc;

	rc = real_read(f, out, STORE_PAGE_SIZE, off);
	if (rc == SQLITE_IOERR_SHORT_READ) {
		memset(out, 0, STORE_PAGE_SIZE);
		return rc;
	}
	if (rc != SQLITE_OK)
		return rc;
	if (store_page_open(f->vfs->key, f->vfs->file_id, pgno, f->kind,
	    out, out) != 0) {
		note_fault(f, pgno, off);
		return SQLITE_IOERR_DATA;
	}
	return SQLITE_OK;
}

static int
write_image(struct cfile *f, const void *in, sqlite3_int64 off,
    uint32_t pgno)
{
	store_page_seal(f->vfs->key, f->vfs->file_id, pgno, f->kind, in,
	    f->buf);
	return real_write(f, f->buf, STORE_PAGE_SIZE, off);
}

/* ---- 2. main database ------------------------------------------------ */

static int
db_read(struct cfile *f, uint8_t *out, int amt, sqlite3_int64 off)
{
	sqlite3_int64 pg, first, last, pos, end;
	bool short_read = false;
	int rc;

	if (off < 0 || amt <= 0)
		return SQLITE_IOERR_READ;
	first = off / STORE_PAGE_SIZE;
	last = (off + amt - 1) / STORE_PAGE_SIZE;
	if (first > UINT32_MAX - 1 || last > UINT32_MAX - 1)
		return SQLITE_IOERR_READ;
	/* The usual case: exactly one page, decrypted in place. */
	if (amt == STORE_PAGE_SIZE && off % STORE_PAGE_SIZE == 0)
		return read_image(f, out, off, (uint32_t)first + 1);
	/* Anything else (the 100-byte header, the change counter ...). */
	for (pg = first; pg <= last; pg++) {
		rc = read_image(f, f->buf, pg * STORE_PAGE_SIZE,
		    (uint32_t)pg + 1);
		if (rc == SQLITE_IOERR_SHORT_READ)
			short_read = true;
		else if (rc != SQLITE_OK)
			return rc;
		pos = pg * STORE_PAGE_SIZE;
		if (pos < off)
			pos = off;
		end = (pg + 1) * STORE_PAGE_SIZE;
		if (end > off + amt)
			end = off + amt;
		memcpy(out + (pos - off), f->buf + (pos - pg * STORE_PAGE_SIZE),
		    (size_t)(end - pos));
	}
	return short_read ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}

static int
db_write(struct cfile *f, const uint8_t *in, int amt, sqlite3_int64 off)
{
	sqlite3_int64 size, pg;
	int rc;

	struct store_vfs *v = f->vfs;
	bool copy = false;

	if (amt != STORE_PAGE_SIZE || off < 0 || off % STORE_PAGE_SIZE != 0 ||
	    off / STORE_PAGE_SIZE >= UINT32_MAX - 1)
		return SQLITE_IOERR_WRITE;	/* never a partial page */
	if (v->ckpt) {
		/* Only the image ckpt_read() handed out, to its own page. */
		if (!v->ckpt_have || v->ckpt_pgno !=
		    (uint32_t)(off / STORE_PAGE_SIZE) + 1 ||
		    memcmp(in, v->ckpt_img, STORE_PAGE_SIZE) != 0)
			return SQLITE_IOERR_WRITE;
		v->ckpt_have = false;
		copy = true;
	}
	/*
	 * Never leave a hole: SQLite may skip writing free pages, and a
	 * hole reads back as zeros, which we refuse as tampering.  Fill the
	 * gap with encrypted zero pages.  SQLite holds the write lock here,
	 * so the size is stable; inside a checkpoint window (the only time
	 * a WAL-mode database is written, by the one connection holding
	 * the checkpoint lock) it is learnt once and then followed.
	 */
	if (f->size_known) {
		size = f->size;
	} else {
		if ((rc = f->real->pMethods->xFileSize(f->real, &size)) !=
		    SQLITE_OK)
			return rc;
		if (v->ckpt) {
			f->size = size;
			f->size_known = true;
		}
	}
	if (off > size) {
		static const uint8_t zero[STORE_PAGE_SIZE];

		for (pg = size / STORE_PAGE_SIZE; pg < off / STORE_PAGE_SIZE;
		    pg++) {
			rc = write_image(f, zero, pg * STORE_PAGE_SIZE,
			    (uint32_t)pg + 1);
			if (rc != SQLITE_OK) {
				f->size_known = false;
				return rc;
			}
		}
	}
	if (copy)
		rc = real_write(f, in, STORE_PAGE_SIZE, off);
	else
		rc = write_image(f, in, off, (uint32_t)(off / STORE_PAGE_SIZE) +
		    1);
	if (rc != SQLITE_OK)
		f->size_known = false;
	else if (f->size_known && off + STORE_PAGE_SIZE > f->size)
		f->size = off + STORE_PAGE_SIZE;
	return rc;
}

/* ---- 3. rollback journal --------------------------------------------- */

static bool
journal_is_image(int amt, sqlite3_int64 off)
{
	return amt == STORE_PAGE_SIZE && off >= 4 && off % 8 == 4;
}

/* The page number stored just before the image at `off`. */
static int
journal_pgno(struct cfile *f, sqlite3_int64 off, uint32_t *pgno)
{
	uint8_t b[4];
	int rc;

	if (f->u32_off == off - 4) {
		*pgno = f->u32_val;
		return SQLITE_OK;
	}
	rc = real_read(f, b, 4, off - 4);
	if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
		return rc;
	*pgno = get_be32(b);
	return SQLITE_OK;
}

static int
journal_read(struct cfile *f, uint8_t *out, int amt, sqlite3_int64 off)
{
	uint32_t pgno;
	int rc;

	if (!journal_is_image(amt, off))
		return real_read(f, out, amt, off);
	if ((rc = journal_pgno(f, off, &pgno)) != SQLITE_OK)
		return rc;
	return read_image(f, out, off, pgno);
}

static int
journal_write(struct cfile *f, const uint8_t *in, int amt,
    sqlite3_int64 off)
{
	uint32_t pgno;
	int rc;

	if (amt == 4) {
		f->u32_off = off;
		f->u32_val = get_be32(in);
	}
	if (!journal_is_image(amt, off))
		return real_write(f, in, amt, off);
	if ((rc = journal_pgno(f, off, &pgno)) != SQLITE_OK)
		return rc;
	return write_image(f, in, off, pgno);
}

/* ---- 4. WAL ------------------------------------------------------------ */

/* Offset of frame `i` (0-based). */
static sqlite3_int64
wal_frame_off(sqlite3_int64 i)
{
	return STORE_WAL_HDR + i * (sqlite3_int64)STORE_WAL_FRAME;
}

static int
wal_read_fn(void *ctx, void *p, size_t n, uint64_t off)
{
	int rc;

	rc = real_read(ctx, p, (int)n, (sqlite3_int64)off);
	return rc == SQLITE_OK ? 0 : rc == SQLITE_IOERR_SHORT_READ ? 1 : -1;
}

/*
 * A whole frame (header `fh` at `fo`) was read, as SQLite's recovery
 * does, and its image failed authentication (the image is zeroed now).
 * A torn or uncommitted frame: SQLITE_OK, and SQLite is made to end the
 * log there, as its checksum would have over the torn bytes.  Zeros
 * alone would not do that: a page SQLite wrote as zeros (secure_delete
 * frees pages so) would pass its checksum, and a frame whose image we
 * cannot read would join the log.  A salt that differs from the
 * header's never does, so the copy of the frame header SQLite gets has
 * one.  A frame altered inside the committed log (the log goes on to a
 * commit past it; see wal.c): SQLITE_IOERR_DATA, with the fault noted.
 */
static int
wal_bad_frame(struct cfile *f, sqlite3_int64 fo, uint8_t *fh)
{
	uint8_t hdr[STORE_WAL_HDR];
	struct store_wal_hdr h;
	int rc;

	rc = real_read(f, hdr, sizeof(hdr), 0);
	if (rc == SQLITE_IOERR_SHORT_READ || (rc == SQLITE_OK &&
	    !store_wal_hdr_parse(hdr, &h))) {
		fh[8] ^= 0xff;		/* SQLite ignores this log anyway */
		return SQLITE_OK;
	}
	if (rc != SQLITE_OK)
		return rc;
	rc = store_wal_commit_follows(&h, f->vfs->key, f->vfs->file_id,
	    (uint64_t)(fo - STORE_WAL_HDR) / STORE_WAL_FRAME, fh, wal_read_fn,
	    f, f->buf);
	if (rc < 0)
		return SQLITE_IOERR_READ;
	if (rc > 0) {
		note_fault(f, get_be32(fh), fo + STORE_WAL_FRAME_HDR);
		return SQLITE_IOERR_DATA;
	}
	fh[8] = (uint8_t)~h.salt[0];	/* never the header's salt-1 */
	return SQLITE_OK;
}

/*
 * A checkpoint reads the image of the frame at `fo` to copy it into the
 * database: check its tag, hand SQLite the sealed image and remember it
 * for db_write().
 */
static int
ckpt_read(struct cfile *f, uint8_t *out, sqlite3_int64 fo)
{
	struct store_vfs *v = f->vfs;
	uint32_t pgno;
	int rc;

	v->ckpt_have = false;
	rc = real_read(f, f->buf, STORE_WAL_FRAME, fo);
	if (rc != SQLITE_OK)
		return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_IOERR_READ : rc;
	pgno = get_be32(f->buf);
	if (store_page_verify(v->key, v->file_id, pgno, STORE_KIND_WAL,
	    f->buf + STORE_WAL_FRAME_HDR) != 0) {
		note_fault(f, pgno, fo + STORE_WAL_FRAME_HDR);
		return SQLITE_IOERR_DATA;
	}
	memcpy(out, f->buf + STORE_WAL_FRAME_HDR, STORE_PAGE_SIZE);
	memcpy(v->ckpt_img, out, STORE_PAGE_SIZE);
	v->ckpt_pgno = pgno;
	v->ckpt_have = true;
	return SQLITE_OK;
}

static int
wal_read(struct cfile *f, uint8_t *out, int amt, sqlite3_int64 off)
{
	sqlite3_int64 end = off + amt, i, fo, po, lo, hi;
	bool whole;
	uint32_t pgno;
	uint8_t b[4];
	int rc, rc2;

	if (off < 0 || amt <= 0)
		return SQLITE_IOERR_READ;
	if (f->vfs->ckpt && amt == STORE_PAGE_SIZE &&
	    off >= STORE_WAL_HDR + STORE_WAL_FRAME_HDR &&
	    (off - STORE_WAL_HDR) % STORE_WAL_FRAME == STORE_WAL_FRAME_HDR)
		return ckpt_read(f, out, off - STORE_WAL_FRAME_HDR);
	rc = real_read(f, out, amt, off);
	if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
		return rc;
	if (end <= STORE_WAL_HDR)
		return rc;
	i = off < STORE_WAL_HDR ? 0 : (off - STORE_WAL_HDR) / STORE_WAL_FRAME;
	for (; (fo = wal_frame_off(i)) < end; i++) {
		po = fo + STORE_WAL_FRAME_HDR;		/* page image */
		lo = po > off ? po : off;
		hi = po + STORE_PAGE_SIZE < end ? po + STORE_PAGE_SIZE : end;
		if (lo >= hi)
			continue;			/* header bytes only */
		whole = fo >= off && po + STORE_PAGE_SIZE <= end;
		if (whole) {
			/* Frame header and image both in `out`. */
			pgno = get_be32(out + (fo - off));
			if (rc == SQLITE_IOERR_SHORT_READ &&
			    store_is_zero(out + (po - off), STORE_PAGE_SIZE))
				continue;		/* past the end */
			if (store_page_open(f->vfs->key, f->vfs->file_id,
			    pgno, STORE_KIND_WAL, out + (po - off),
			    out + (po - off)) != 0) {
				/* Torn or tampered?  Torn ends the log. */
				rc2 = wal_bad_frame(f, fo, out + (fo - off));
				if (rc2 != SQLITE_OK)
					return rc2;
			}
			continue;
		}
		/* Part of an image, or an image without its header. */
		rc2 = real_read(f, b, 4, fo);
		if (rc2 != SQLITE_OK && rc2 != SQLITE_IOERR_SHORT_READ)
			return rc2;
		pgno = get_be32(b);
		rc2 = read_image(f, f->buf, po, pgno);
		if (rc2 == SQLITE_IOERR_SHORT_READ)
			rc = rc2;
		else if (rc2 != SQLITE_OK)
			return rc2;
		memcpy(out + (lo - off), f->buf + (lo - po), (size_t)(hi - lo));
	}
	return rc;
}

static int
wal_write(struct cfile *f, const uint8_t *in, int amt, sqlite3_int64 off)
{
	sqlite3_int64 rel;
	uint8_t b[4];
	uint32_t pgno;
	int rc;

	if (off < STORE_WAL_HDR)
		return off + amt <= STORE_WAL_HDR ? real_write(f, in, amt, off) :
		    SQLITE_IOERR_WRITE;
	rel = (off - STORE_WAL_HDR) % STORE_WAL_FRAME;
	if (rel == 0 && amt == STORE_WAL_FRAME_HDR) {
		/* A frame header; remember its page number for the image. */
		f->fh_off = off;
		f->fh_pgno = get_be32(in);
		return real_write(f, in, amt, off);
	}
	if (rel == STORE_WAL_FRAME_HDR && amt == STORE_PAGE_SIZE) {
		if (f->fh_off == off - STORE_WAL_FRAME_HDR) {
			pgno = f->fh_pgno;
		} else {
			rc = real_read(f, b, 4, off - STORE_WAL_FRAME_HDR);
			if (rc != SQLITE_OK)
				return rc == SQLITE_IOERR_SHORT_READ ?
				    SQLITE_IOERR_WRITE : rc;
			pgno = get_be32(b);
		}
		return write_image(f, in, off, pgno);
	}
	if (rel == 0 && amt == STORE_WAL_FRAME) {
		/* Header and image in one write. */
		if ((rc = real_write(f, in, STORE_WAL_FRAME_HDR, off)) !=
		    SQLITE_OK)
			return rc;
		return write_image(f, in + STORE_WAL_FRAME_HDR,
		    off + STORE_WAL_FRAME_HDR, get_be32(in));
	}
	if (rel + amt <= STORE_WAL_FRAME_HDR)
		return real_write(f, in, amt, off);	/* checksum rewrite */
	return SQLITE_IOERR_WRITE;	/* part of an image: never done */
}

/* ---- 5. io methods ----------------------------------------------------- */

static int
c_close(sqlite3_file *pf)
{
	struct cfile *f = (struct cfile *)pf;
	int rc;

	rc = f->real->pMethods != NULL ? f->real->pMethods->xClose(f->real) :
	    SQLITE_OK;
	cl_free(f->buf);
	f->buf = NULL;
	return rc;
}

static int
c_read(sqlite3_file *pf, void *p, int amt, sqlite3_int64 off)
{
	struct cfile *f = (struct cfile *)pf;

	switch (f->kind) {
	case STORE_KIND_DB:
		return db_read(f, p, amt, off);
	case STORE_KIND_JOURNAL:
		return journal_read(f, p, amt, off);
	case STORE_KIND_WAL:
		return wal_read(f, p, amt, off);
	}
	return SQLITE_IOERR_READ;
}

static int
c_write(sqlite3_file *pf, const void *p, int amt, sqlite3_int64 off)
{
	struct cfile *f = (struct cfile *)pf;

	switch (f->kind) {
	case STORE_KIND_DB:
		return db_write(f, p, amt, off);
	case STORE_KIND_JOURNAL:
		return journal_write(f, p, amt, off);
	case STORE_KIND_WAL:
		return wal_write(f, p, amt, off);
	}
	return SQLITE_IOERR_WRITE;
}

static int
c_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
	struct cfile *f = (struct cfile *)pf;

	f->u32_off = f->fh_off = -1;
	f->size_known = false;
	return f->real->pMethods->xTruncate(f->real, size);
}

static int
c_sync(sqlite3_file *pf, int flags)
{
	struct cfile *f = (struct cfile *)pf;

	return f->real->pMethods->xSync(f->real, flags);
}

static int
c_file_size(sqlite3_file *pf, sqlite3_int64 *size)
{
	struct cfile *f = (struct cfile *)pf;

	return f->real->pMethods->xFileSize(f->real, size);
}

static int
c_lock(sqlite3_file *pf, int lock)
{
	struct cfile *f = (struct cfile *)pf;

	return f->real->pMethods->xLock(f->real, lock);
}

static int
c_unlock(sqlite3_file *pf, int lock)
{
	struct cfile *f = (struct cfile *)pf;

	return f->real->pMethods->xUnlock(f->real, lock);
}

static int
c_check_reserved_lock(sqlite3_file *pf, int *out)
{
	struct cfile *f = (struct cfile *)pf;

	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int
c_file_control(sqlite3_file *pf, int op, void *arg)
{
	struct cfile *f = (struct cfile *)pf;
	int rc;

	if (op == SQLITE_FCNTL_MMAP_SIZE) {
		/* Raw pages must never be mapped into SQLite. */
		*(sqlite3_int64 *)arg = 0;
	}
	if (f->kind == STORE_KIND_DB && (op == SQLITE_FCNTL_CKPT_START ||
	    op == SQLITE_FCNTL_CKPT_DONE)) {
		f->vfs->ckpt = op == SQLITE_FCNTL_CKPT_START;
		f->vfs->ckpt_have = false;
		f->size_known = false;
	}
	rc = f->real->pMethods->xFileControl(f->real, op, arg);
	if (op == SQLITE_FCNTL_VFSNAME && rc == SQLITE_OK)
		*(char **)arg = sqlite3_mprintf("cloister/%z", *(char **)arg);
	return rc;
}

static int
c_sector_size(sqlite3_file *pf)
{
	struct cfile *f = (struct cfile *)pf;

	return f->real->pMethods->xSectorSize(f->real);
}

static int
c_device_characteristics(sqlite3_file *pf)
{
	struct cfile *f = (struct cfile *)pf;
	int c;

	c = f->real->pMethods->xDeviceCharacteristics(f->real);
	/* Our writes are not the device's atomic writes. */
	c &= ~(SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_ATOMIC512 |
	    SQLITE_IOCAP_ATOMIC1K | SQLITE_IOCAP_ATOMIC2K |
	    SQLITE_IOCAP_ATOMIC4K | SQLITE_IOCAP_ATOMIC8K |
	    SQLITE_IOCAP_ATOMIC16K | SQLITE_IOCAP_ATOMIC32K |
	    SQLITE_IOCAP_ATOMIC64K | SQLITE_IOCAP_BATCH_ATOMIC);
	return c;
}

static int
c_shm_map(sqlite3_file *pf, int pg, int pgsz, int extend,
    void volatile **pp)
{
	struct cfile *f = (struct cfile *)pf;

	if (f->real->pMethods->iVersion < 2 ||
	    f->real->pMethods->xShmMap == NULL)
		return SQLITE_IOERR_SHMMAP;
	return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, pp);
}

static int
c_shm_lock(sqlite3_file *pf, int offset, int n, int flags)
{
	struct cfile *f = (struct cfile *)pf;

	if (f->real->pMethods->iVersion < 2 ||
	    f->real->pMethods->xShmLock == NULL)
		return SQLITE_IOERR_SHMLOCK;
	/*
	 * Belt and braces: releasing the checkpointer lock (slot 1,
	 * WAL_CKPT_LOCK in SQLite's wal.c) ends any checkpoint window.
	 */
	if ((flags & SQLITE_SHM_UNLOCK) && offset <= 1 && offset + n > 1) {
		f->vfs->ckpt = false;
		f->vfs->ckpt_have = false;
		f->size_known = false;
	}
	return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void
c_shm_barrier(sqlite3_file *pf)
{
	struct cfile *f = (struct cfile *)pf;

	if (f->real->pMethods->iVersion >= 2 &&
	    f->real->pMethods->xShmBarrier != NULL)
		f->real->pMethods->xShmBarrier(f->real);
}

static int
c_shm_unmap(sqlite3_file *pf, int delete_flag)
{
	struct cfile *f = (struct cfile *)pf;

	if (f->real->pMethods->iVersion < 2 ||
	    f->real->pMethods->xShmUnmap == NULL)
		return SQLITE_OK;
	return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

/* Memory-mapped I/O would hand SQLite raw ciphertext: always refuse. */
static int
c_fetch(sqlite3_file *pf, sqlite3_int64 off, int amt, void **pp)
{
	*pp = NULL;
	return SQLITE_OK;
}

static int
c_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
	return SQLITE_OK;
}

static const sqlite3_io_methods cfile_methods = {
	3,
	c_close, c_read, c_write, c_truncate, c_sync, c_file_size,
	c_lock, c_unlock, c_check_reserved_lock, c_file_control,
	c_sector_size, c_device_characteristics,
	c_shm_map, c_shm_lock, c_shm_barrier, c_shm_unmap,
	c_fetch, c_unfetch
};

/* ---- 6. vfs methods ---------------------------------------------------- */

static int
v_open(sqlite3_vfs *pv, const char *name, sqlite3_file *pf, int flags,
    int *out_flags)
{
	struct store_vfs *v = (struct store_vfs *)pv;
	struct cfile *f = (struct cfile *)pf;
	int rc;

	memset(f, 0, sizeof(*f));
	f->u32_off = f->fh_off = -1;
	/*
	 * Only the three files of a store.  Temporary databases, temporary
	 * and statement journals and transient files must stay in memory
	 * (temp_store=MEMORY); a loud error beats a plaintext temp file.
	 */
	if (name == NULL)
		return SQLITE_CANTOPEN;
	if (flags & SQLITE_OPEN_MAIN_DB)
		f->kind = STORE_KIND_DB;
	else if (flags & SQLITE_OPEN_MAIN_JOURNAL)
		f->kind = STORE_KIND_JOURNAL;
	else if (flags & SQLITE_OPEN_WAL)
		f->kind = STORE_KIND_WAL;
	else
		return SQLITE_CANTOPEN;
	if ((f->buf = cl_malloc(STORE_WAL_FRAME)) == NULL)
		return SQLITE_NOMEM;
	f->vfs = v;
	f->real = (sqlite3_file *)(f + 1);
	rc = v->inner->xOpen(v->inner, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		if (f->real->pMethods != NULL)
			f->real->pMethods->xClose(f->real);
		cl_free(f->buf);
		f->buf = NULL;
		return rc;
	}
	f->base.pMethods = &cfile_methods;
	return SQLITE_OK;
}

#define INNER(pv) (((struct store_vfs *)(pv))->inner)

static int
v_delete(sqlite3_vfs *pv, const char *name, int sync_dir)
{
	return INNER(pv)->xDelete(INNER(pv), name, sync_dir);
}

static int
v_access(sqlite3_vfs *pv, const char *name, int flags, int *out)
{
	return INNER(pv)->xAccess(INNER(pv), name, flags, out);
}

static int
v_full_pathname(sqlite3_vfs *pv, const char *name, int n, char *out)
{
	return INNER(pv)->xFullPathname(INNER(pv), name, n, out);
}

/* No loadable extensions through the store's VFS. */
static void *
v_dlopen(sqlite3_vfs *pv, const char *path)
{
	return NULL;
}

static void
v_dlerror(sqlite3_vfs *pv, int n, char *msg)
{
	snprintf(msg, (size_t)n, "extensions are disabled in the store");
}

static void
(*v_dlsym(sqlite3_vfs *pv, void *h, const char *sym))(void)
{
	return NULL;
}

static void
v_dlclose(sqlite3_vfs *pv, void *h)
{
}

static int
v_randomness(sqlite3_vfs *pv, int n, char *out)
{
	randombytes_buf(out, (size_t)n);
	return n;
}

static int
v_sleep(sqlite3_vfs *pv, int us)
{
	return INNER(pv)->xSleep(INNER(pv), us);
}

static int
v_current_time(sqlite3_vfs *pv, double *out)
{
	return INNER(pv)->xCurrentTime(INNER(pv), out);
}

static int
v_get_last_error(sqlite3_vfs *pv, int n, char *out)
{
	return INNER(pv)->xGetLastError != NULL ?
	    INNER(pv)->xGetLastError(INNER(pv), n, out) : 0;
}

static int
v_current_time_int64(sqlite3_vfs *pv, sqlite3_int64 *out)
{
	return INNER(pv)->xCurrentTimeInt64(INNER(pv), out);
}

int
store_vfs_new(const uint8_t page_key[STORE_KEY_BYTES],
    const uint8_t file_id[STORE_FILE_ID_BYTES], struct store_vfs **out,
    struct cl_err *err)
{
	struct store_vfs *v = NULL;
	sqlite3_vfs *inner;
	int r, rc;

	*out = NULL;
	inner = inner_override != NULL ? inner_override : sqlite3_vfs_find(NULL);
	if (inner == NULL || inner->iVersion < 2) {
		r = cl_errf(err, CL_EINTERNAL, "no usable default SQLite VFS");
		goto out;
	}
	if ((v = cl_calloc(1, sizeof(*v))) == NULL ||
	    (v->key = sodium_malloc(STORE_KEY_BYTES)) == NULL ||
	    (v->ckpt_img = cl_malloc(STORE_PAGE_SIZE)) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(v->key, page_key, STORE_KEY_BYTES);
	memcpy(v->file_id, file_id, STORE_FILE_ID_BYTES);
	v->inner = inner;
	snprintf(v->name, sizeof(v->name), "cloister-%u-%p",
	    __atomic_add_fetch(&vfs_counter, 1, __ATOMIC_RELAXED), (void *)v);
	v->base.iVersion = 2;
	v->base.szOsFile = (int)sizeof(struct cfile) + inner->szOsFile;
	v->base.mxPathname = inner->mxPathname;
	v->base.zName = v->name;
	v->base.pAppData = NULL;
	v->base.xOpen = v_open;
	v->base.xDelete = v_delete;
	v->base.xAccess = v_access;
	v->base.xFullPathname = v_full_pathname;
	v->base.xDlOpen = v_dlopen;
	v->base.xDlError = v_dlerror;
	v->base.xDlSym = v_dlsym;
	v->base.xDlClose = v_dlclose;
	v->base.xRandomness = v_randomness;
	v->base.xSleep = v_sleep;
	v->base.xCurrentTime = v_current_time;
	v->base.xGetLastError = v_get_last_error;
	v->base.xCurrentTimeInt64 = v_current_time_int64;
	if ((rc = sqlite3_vfs_register(&v->base, 0)) != SQLITE_OK) {
		r = cl_errf(err, CL_EINTERNAL, "cannot register the store VFS: "
		    "%s", sqlite3_errstr(rc));
		goto out;
	}
	v->registered = true;
	*out = v;
	v = NULL;
	r = CL_OK;
out:
	store_vfs_free(v);
	return r;
}

void
store_vfs_free(struct store_vfs *v)
{
	if (v == NULL)
		return;
	if (v->registered)
		sqlite3_vfs_unregister(&v->base);
	sodium_free(v->key);
	cl_free(v->ckpt_img);
	sodium_memzero(v, sizeof(*v));
	cl_free(v);
}

const char *
store_vfs_name(const struct store_vfs *v)
{
	return v->name;
}
