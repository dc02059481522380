package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// scanTable fills a table of n items: most sealed and bound, every 17th unbound (Moped's
// shape), every 41st undecryptable.
func scanTable(t *testing.T, n int) *deployment {
	t.Helper()
	d := deploy(t)
	ring := d.ring(t)
	c, _ := claims.New([]string{"viewer", "editor"}, "editor", nil)
	for i := 0; i < n; i++ {
		e := fmt.Sprintf("s%04d@example.com", i)
		var tok string
		var err error
		switch {
		case i%41 == 0:
			tok = "not-a-fernet-token"
		case i%17 == 0:
			tok, err = ring.Encrypt([]byte(c.JSON()))
		default:
			tok, err = claims.SealFor(ring, c, claims.Binding{UserID: e, Identity: fmt.Sprintf("sub-%d", i)})
		}
		require.NoError(t, err)
		d.putToken(t, e, tok)
	}
	// And one machine client's record, which verify counts and list leaves out.
	tok, err := claims.SealClient(ring, claims.Client{ID: "1example23456789abcdefghij", Name: "etl", Tier: "reader"})
	require.NoError(t, err)
	d.putToken(t, claims.ClientItemID("1example23456789abcdefghij"), tok)
	return d
}

// pagesUntil makes the nth committed scan page (counting from 1) fail; 0 never. It returns a
// counter of the pages committed.
func pagesUntil(n int) *int {
	count := new(int)
	faultHook = func(p string) error {
		if p != "scan-page" {
			return nil
		}
		*count++
		if *count == n {
			return errors.New("injected: connection reset")
		}
		return nil
	}
	return count
}

// TestClaimsVerifyAndListResumeWithTheTotalsOfAnUninterruptedRun interrupts claims verify and
// claims list after some pages of a 3-segment scan; --resume scans only what is left and prints
// exactly what an uninterrupted run prints.
func TestClaimsVerifyAndListResumeWithTheTotalsOfAnUninterruptedRun(t *testing.T) {
	d := scanTable(t, 620)
	defer func() { faultHook = nil }()
	for _, cmd := range []string{"verify", "list"} {
		wantCode := map[string]int{"verify": exitFailed, "list": exitOK}[cmd]
		pages := pagesUntil(0)
		want, errOut, code := d.ctl(t, "", "claims", cmd, "--json", "--workers", "3")
		require.Equal(t, wantCode, code, errOut)
		all := *pages
		require.GreaterOrEqual(t, all, 7, "621 items in 3 segments take at least 7 pages of 100")
		if cmd == "list" {
			assert.NotContains(t, want, "client#")
		}
		if cmd == "verify" {
			assert.Contains(t, want, `"items": 621`)
			assert.Contains(t, want, `"clients": 1`)
			assert.Contains(t, want, `"failed": 16`)
			assert.Contains(t, want, `"unbound": 36`)
		}

		for _, stop := range []int{1, all / 2, all} {
			t.Run(fmt.Sprintf("%s stopped at page %d of %d", cmd, stop, all), func(t *testing.T) {
				pagesUntil(stop)
				_, errOut, code := d.ctl(t, "", "claims", cmd, "--json", "--workers", "3")
				assert.Equal(t, exitFailed, code)
				assert.Contains(t, errOut, "injected: connection reset")
				assert.Contains(t, errOut, "nothing was changed; the progress is recorded in ")
				assert.Contains(t, errOut, "run claimsctl claims "+cmd+" --resume to continue")
				path, err := checkpointPath("us-east-1", d.table, "claims "+cmd)
				require.NoError(t, err)
				fi, err := os.Stat(path)
				require.NoError(t, err, "the progress is recorded")
				assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "it names users: the operator's alone")
				assert.Equal(t, filepath.Join(os.Getenv("XDG_CACHE_HOME"), "claimsctl"), filepath.Dir(path))

				pages := pagesUntil(0)
				got, errOut, code := d.ctl(t, "", "claims", cmd, "--json", "--resume")
				require.Equal(t, wantCode, code, errOut)
				assert.Equal(t, want, got, "the resumed run prints what an uninterrupted run prints")
				assert.LessOrEqual(t, *pages, all-stop+2, "the resumed run scans only what was left (give or take the pages in flight)")
				_, err = os.Stat(path)
				assert.ErrorIs(t, err, os.ErrNotExist, "a finished run removes its progress")

				_, errOut, code = d.ctl(t, "", "claims", cmd, "--resume")
				assert.Equal(t, exitUsage, code)
				assert.Contains(t, errOut, "no interrupted claims "+cmd+" of "+d.table+" is recorded")
			})
		}
	}
	faultHook = nil

	// A changed key ring judges items differently: the old progress is refused.
	pagesUntil(2)
	_, _, code := d.ctl(t, "", "claims", "verify", "--workers", "3")
	require.Equal(t, exitFailed, code)
	faultHook = nil
	k, _ := claims.GenerateKey()
	_, errOut, code := d.ctl(t, k+"\n", "key", "import", "--stdin")
	require.Equal(t, exitOK, code, errOut)
	_, errOut, code = d.ctl(t, "", "claims", "verify", "--resume")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "the key ring changed since the interrupted claims verify started")
	assert.NotContains(t, errOut, k)
	out, _, _ := d.ctl(t, "", "claims", "verify")
	assert.Contains(t, out, "621 items, 16 failed", "a fresh run starts over")
}
