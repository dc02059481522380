package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// A checkpoint lets `claims list` and `claims verify` resume a scan of a large table where an
// interrupted run stopped. They only read, so, unlike key rotate (whose state every operator
// must see, and which is kept in the table), their state is the operator's own: a file under the
// user's cache directory, needing no write access to the table. It holds, per scan segment, the
// key the next page starts from and the status of every item already inspected, committed
// together after each page, so that a resumed run counts every item exactly once.
type checkpoint struct {
	Version  int          `json:"version"`
	Command  string       `json:"command"`
	Region   string       `json:"region"`
	Table    string       `json:"table"`
	Ring     string       `json:"ring"` // fingerprints of the ring's keys: a changed ring gives other answers
	Started  string       `json:"started"`
	Segments []segmentRun `json:"segments"`

	path  string
	mu    sync.Mutex
	saved time.Time
}

type segmentRun struct {
	Next  map[string]string `json:"next,omitempty"` // LastEvaluatedKey (string attributes); empty with Done false: not started
	Done  bool              `json:"done,omitempty"`
	Items []savedStatus     `json:"items,omitempty"`
}

// savedStatus is an itemStatus as the checkpoint keeps it.
type savedStatus struct {
	ID      string          `json:"id"`
	Bound   bool            `json:"bound,omitempty"`
	Primary bool            `json:"primary,omitempty"`
	Client  bool            `json:"client,omitempty"`
	Err     string          `json:"err,omitempty"`
	Claims  json.RawMessage `json:"claims,omitempty"` // claims list only
}

const checkpointVersion = 1

// checkpointEvery bounds how often a running scan rewrites its checkpoint file; an interrupted
// run writes it once more on its way out (a killed one repeats at most this much work).
const checkpointEvery = 2 * time.Second

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// checkpointPath is where command's checkpoint for table lives: $XDG_CACHE_HOME/claimsctl (or the
// platform's user cache directory).
func checkpointPath(region, table, command string) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache directory for the resume state (set XDG_CACHE_HOME): %w", err)
	}
	name := unsafeName.ReplaceAllString(region+"-"+table+"-"+strings.ReplaceAll(command, " ", "-"), "_") + ".json"
	return filepath.Join(dir, "claimsctl", name), nil
}

func ringFingerprints(ring *claims.KeyRing) string {
	var fps []string
	for _, k := range ring.Keys() {
		fps = append(fps, claims.Fingerprint(k))
	}
	return strings.Join(fps, ",")
}

// startCheckpoint begins a fresh scan's checkpoint, or with resume loads the interrupted one.
func (s *store) startCheckpoint(command string, ring *claims.KeyRing, resume bool) (*checkpoint, error) {
	path, err := checkpointPath(s.region, s.table, command)
	if err != nil {
		return nil, err
	}
	if !resume {
		return &checkpoint{Version: checkpointVersion, Command: command, Region: s.region, Table: s.table, Ring: ringFingerprints(ring),
			Started: time.Now().UTC().Format(time.RFC3339), Segments: make([]segmentRun, s.workers), path: path}, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, usagef("no interrupted %s of %s is recorded (%s): run it without --resume", command, s.table, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read the resume state %s: %w", path, err)
	}
	cp := &checkpoint{}
	if err := json.Unmarshal(b, cp); err != nil || cp.Version != checkpointVersion || len(cp.Segments) == 0 || len(cp.Segments) > 256 {
		return nil, fmt.Errorf("the resume state %s is unreadable or from another claimsctl version: run %s without --resume", path, command)
	}
	if cp.Command != command || cp.Table != s.table || cp.Region != s.region {
		return nil, fmt.Errorf("the resume state %s is of %s on %s in %s, not of this run: run %s without --resume", path, cp.Command, cp.Table, cp.Region, command)
	}
	if cp.Ring != ringFingerprints(ring) {
		return nil, fmt.Errorf("the key ring changed since the interrupted %s started %s (items would be judged by other keys): run it again without --resume", command, cp.Started)
	}
	cp.path = path
	return cp, nil
}

// resume returns the scan's resume hooks; pending[seg] is what segment seg inspected since its
// last committed page (only its own goroutine touches it).
func (cp *checkpoint) resume(pending [][]savedStatus) *scanResume {
	done := int64(0)
	for _, sg := range cp.Segments {
		done += int64(len(sg.Items))
	}
	return &scanResume{
		segments: len(cp.Segments),
		done:     done,
		start: func(seg int) (map[string]ddbtypes.AttributeValue, bool) {
			sg := cp.Segments[seg]
			if sg.Done || len(sg.Next) == 0 {
				return nil, sg.Done
			}
			k := map[string]ddbtypes.AttributeValue{}
			for n, v := range sg.Next {
				k[n] = &ddbtypes.AttributeValueMemberS{Value: v}
			}
			return k, false
		},
		page: func(seg int, last map[string]ddbtypes.AttributeValue) error {
			next := map[string]string{}
			for n, v := range last {
				sv, ok := v.(*ddbtypes.AttributeValueMemberS)
				if !ok {
					return fmt.Errorf("scan of %s: the key attribute %s is not a string; this table is not a claims table", cp.Table, n)
				}
				next[n] = sv.Value
			}
			cp.mu.Lock()
			sg := &cp.Segments[seg]
			sg.Items = append(sg.Items, pending[seg]...)
			sg.Next, sg.Done = next, len(last) == 0
			pending[seg] = pending[seg][:0]
			due := time.Since(cp.saved) >= checkpointEvery
			cp.mu.Unlock()
			if err := fault("scan-page"); err != nil {
				return err
			}
			if due {
				return cp.save()
			}
			return nil
		},
	}
}

// save writes the checkpoint atomically (a new file renamed over the old), readable by the
// operator alone: it names users and, for claims list, their roles.
func (cp *checkpoint) save() error {
	cp.mu.Lock()
	b, err := json.Marshal(cp)
	cp.saved = time.Now()
	cp.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(cp.path), 0o700); err != nil {
		return fmt.Errorf("write the resume state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(cp.path), ".checkpoint-*")
	if err != nil {
		return fmt.Errorf("write the resume state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write the resume state %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write the resume state %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), cp.path); err != nil {
		return fmt.Errorf("write the resume state %s: %w", cp.path, err)
	}
	return nil
}

func (cp *checkpoint) remove() { _ = os.Remove(cp.path) }

// statuses is every item the checkpoint holds.
func (cp *checkpoint) statuses() ([]itemStatus, error) {
	var all []itemStatus
	var err error
	for _, sg := range cp.Segments {
		for _, it := range sg.Items {
			st := itemStatus{id: it.ID, bound: it.Bound, primary: it.Primary, client: it.Client}
			if it.Err != "" {
				st.err = errors.New(it.Err)
			}
			if len(it.Claims) > 0 {
				// Validated when inspected; parsed again to get the typed values back.
				if st.claims, err = claims.Parse(it.Claims); err != nil {
					return nil, fmt.Errorf("the resume state %s holds claims of %s that do not parse (%w): run claimsctl %s again without --resume", cp.path, it.ID, err, cp.Command)
				}
			}
			all = append(all, st)
		}
	}
	return all, nil
}

// resumableCensus is census for claims list and verify: it records a checkpoint as it goes,
// resumes from one with resume, and removes it once the whole table is done.
func resumableCensus(ctx context.Context, st *store, ring *claims.KeyRing, what string, keepClaims, resume bool) ([]itemStatus, error) {
	cp, err := st.startCheckpoint(what, ring, resume)
	if err != nil {
		return nil, err
	}
	pending := make([][]savedStatus, len(cp.Segments))
	err = st.scan(ctx, what, cp.resume(pending), func(_ context.Context, seg int, item map[string]ddbtypes.AttributeValue) error {
		s := inspect(ring, item)
		sv := savedStatus{ID: s.id, Bound: s.bound, Primary: s.primary, Client: s.client}
		if s.err != nil {
			sv.Err = s.err.Error()
		}
		if keepClaims && s.err == nil && s.claims != nil {
			sv.Claims = json.RawMessage(s.claims.JSON())
		}
		pending[seg] = append(pending[seg], sv)
		return nil
	})
	if err != nil {
		if serr := cp.save(); serr != nil {
			return nil, fmt.Errorf("%w; the progress could not be recorded either (%v): run %s again from the start", err, serr, what)
		}
		return nil, fmt.Errorf("%w; nothing was changed; the progress is recorded in %s: run claimsctl %s --resume to continue", err, cp.path, what)
	}
	all, err := cp.statuses()
	if err != nil {
		return nil, err
	}
	cp.remove()
	sort.Slice(all, func(i, j int) bool { return all[i].id < all[j].id })
	return all, nil
}
