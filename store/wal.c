/*
 * wal.c - SQLite's WAL format as far as the store must understand it to
 * tell a crash from tampering: the header, the frame checksums and the
 * rule by which SQLite's recovery decides where the log ends.
 *
 * The format (sqlite.org/fileformat2.html, "The Write-Ahead Log"): a
 * 32-byte header (magic, version, page size, checkpoint sequence, two
 * salts, a checksum of the first 24 bytes), then frames of a 24-byte
 * header (page number, database size after a commit or 0, the two salts,
 * two checksum words) and a page image.  Each frame's checksum continues
 * the previous one (the header's for frame 1) over the first 8 bytes of
 * the frame header and the page image (plaintext: SQLite computes it
 * before the shim encrypts).  Recovery takes frames while their salts
 * match the header's and their checksums chain; the log ends at the last
 * commit frame of that run.
 *
 * Why the store needs this.  SIGKILL can leave a frame whose image fails
 * authentication without anyone tampering with it: write(2) into the page
 * cache is copied 4 KiB page by page and stops at a fatal signal, and
 * every WAL page image straddles a page boundary, so an image can be cut
 * in two.  With a small page cache SQLite even rewrites, in place, images
 * of frames an uncommitted transaction spilled earlier, so frames that
 * chain correctly can follow the cut one.  None of that is committed: a
 * transaction's commit frame is written after all of its images, so a
 * write cut short means the commit frame was never written.  Hence the
 * rule used by the shim's recovery reads and by `store check`: a frame
 * that fails authentication is tampering exactly when the log would go
 * on from it (its stored checksum) to a commit frame whose frames all
 * authenticate and chain; otherwise it is a torn tail and the log ends
 * before it, as SQLite's own checksum would decide.
 *
 * (A frame that authenticates but whose checksum does not chain is not
 * evidence of anything: a writer killed after rewriting an image in place
 * and writing its commit frame, but before rewriting the checksums,
 * leaves exactly that.  Nothing committed is lost by ending the log
 * there.)
 */
#include "config.h"

#include <string.h>

#include "store/store_impl.h"

#define WAL_MAGIC	0x377f0682u
#define WAL_VERSION	3007000u

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

void
store_wal_cksum(bool big, const uint8_t *p, size_t n, uint32_t s[2])
{
	uint32_t s1 = s[0], s2 = s[1];
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		if (big) {
			s1 += be32(p + i) + s2;
			s2 += be32(p + i + 4) + s1;
		} else {
			s1 += le32(p + i) + s2;
			s2 += le32(p + i + 4) + s1;
		}
	}
	s[0] = s1;
	s[1] = s2;
}

bool
store_wal_hdr_parse(const uint8_t p[STORE_WAL_HDR], struct store_wal_hdr *h)
{
	uint32_t s[2] = { 0, 0 };

	if ((be32(p) & ~1u) != WAL_MAGIC || be32(p + 4) != WAL_VERSION ||
	    be32(p + 8) != STORE_PAGE_SIZE)
		return false;
	h->big = (be32(p) & 1) != 0;
	store_wal_cksum(h->big, p, 24, s);
	if (s[0] != be32(p + 24) || s[1] != be32(p + 28))
		return false;
	memcpy(h->salt, p + 16, sizeof(h->salt));
	h->cksum[0] = s[0];
	h->cksum[1] = s[1];
	return true;
}

bool
store_wal_frame_chains(const struct store_wal_hdr *h, const uint8_t *fh,
    const uint8_t *page, uint32_t s[2])
{
	uint32_t t[2] = { s[0], s[1] };

	if (be32(fh) == 0 || memcmp(fh + 8, h->salt, sizeof(h->salt)) != 0)
		return false;
	store_wal_cksum(h->big, fh, 8, t);
	store_wal_cksum(h->big, page, STORE_PAGE_SIZE, t);
	if (t[0] != be32(fh + 16) || t[1] != be32(fh + 20))
		return false;
	s[0] = t[0];
	s[1] = t[1];
	return true;
}

int
store_wal_commit_follows(const struct store_wal_hdr *h, const uint8_t *key,
    const uint8_t *file_id, uint64_t i, const uint8_t *fh,
    store_wal_read_fn *rd, void *ctx, uint8_t *frame)
{
	uint32_t s[2];
	uint64_t off;
	int rc;

	/* Not of this generation: SQLite ignores it and all after it. */
	if (be32(fh) == 0 || memcmp(fh + 8, h->salt, sizeof(h->salt)) != 0)
		return 0;
	s[0] = be32(fh + 16);
	s[1] = be32(fh + 20);
	for (i++; i < (UINT64_MAX - STORE_WAL_HDR) / STORE_WAL_FRAME; i++) {
		off = STORE_WAL_HDR + i * (uint64_t)STORE_WAL_FRAME;
		if ((rc = rd(ctx, frame, STORE_WAL_FRAME, off)) != 0)
			return rc < 0 ? -1 : 0;		/* end of file */
		if (store_page_open(key, file_id, be32(frame), STORE_KIND_WAL,
		    frame + STORE_WAL_FRAME_HDR, frame + STORE_WAL_FRAME_HDR) !=
		    0)
			return 0;
		if (!store_wal_frame_chains(h, frame,
		    frame + STORE_WAL_FRAME_HDR, s))
			return 0;
		if (be32(frame + 4) != 0)
			return 1;			/* a commit frame */
	}
	return 0;
}
