package e2e_test

import (
	"bytes"
	"encoding/binary"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/slipstream-go/slipstream/finalize"
	"github.com/slipstream-go/slipstream/historydb"
	"github.com/slipstream-go/slipstream/internal/ctest"
	"github.com/slipstream-go/slipstream/internal/testpg"
)

// TestHistoryPostgresConnectionLostMidStream: the PostgreSQL backend streams a batch's
// mapping rows into an open COPY while the node goes on (backend_pg.c, PG_STREAM_BYTES).
// The server ends the plugin's connection in the middle of such a batch: the plugin reports
// the failure (counted), drops the open COPY with its transaction, reconnects for the next
// block and stores the blocks after the failure, its resume position held below the lost
// ones. Replaying every block then stores the lost blocks next to the ones already there
// (conflicts, merged): exactly one row per event in the end.
func TestHistoryPostgresConnectionLostMidStream(t *testing.T) {
	lib := ctest.HistoryPlugin(t)
	srv := testpg.Start(t)
	const app, ops, lost, blocks = "slipstream_stream_test", 600, 4, 8
	dsn := srv.DSN + " application_name=" + app
	dir := t.TempDir()
	// no commit before the unload, but for the failure: blocks 1..lost are one open batch
	cfg := writeConfig(t, dir, "history.json5", lib, "postgres", strconv.Quote(dsn), "schema", `"stream"`,
		"batch_blocks", "1000", "batch_ms", "0")
	db, err := historydb.OpenPostgres(srv.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(table string) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM stream."+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	program, mapping := []byte("credits.aleo"), []byte("account")
	value := bytes.Repeat([]byte{0xab}, 100) // 600 rows of ~170 bytes: every block streams
	feed := func(s *finalize.Store, h uint32) {
		t.Helper()
		err := s.Finalize(h, finalize.RealRun, func() error {
			if h == 1 {
				if err := s.InitializeMapping(program, mapping); err != nil {
					return err
				}
			}
			for i := range ops {
				key := binary.LittleEndian.AppendUint32(nil, uint32(i))
				if err := s.UpdateKeyValue(program, mapping, key, append(value[:96:96], key...)); err != nil {
					return err
				}
			}
			return s.NotifyBlock(binary.LittleEndian.AppendUint32(nil, h), h)
		})
		if err != nil {
			t.Fatalf("block %d: %v", h, err)
		}
	}

	m, logs := newManager(t)
	name := mustLoad(t, m, cfg)
	s := finalize.NewStore()
	s.SetSlipstreamPluginManager(m)
	for h := uint32(1); h < lost; h++ {
		feed(s, h)
	}
	var ended int
	if err := db.QueryRowContext(t.Context(),
		"SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM"+
			" (SELECT pid FROM pg_stat_activity WHERE application_name = $1 OFFSET 0) plugin", app).Scan(&ended); err != nil || ended != 1 {
		t.Fatalf("ending the plugin's connection: %d ended, %v", ended, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) { // its backend exits
		var left int
		if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the plugin's server process did not exit within 10 s")
		}
	}
	for h := uint32(lost); h <= blocks; h++ {
		feed(s, h)
	}
	c := pluginInfo(t, m, name).Counters
	m.Unload()
	if c.Errors == 0 {
		t.Fatalf("no failure reported after the connection was ended\n%s", logs)
	}
	// Lost: the open batch, from block 1 to the block that found the connection gone (libpq
	// reports a failed write when it next reads: a block or two after the end). Stored: the
	// blocks after it, through a new connection.
	found := regexp.MustCompile(`blocks 1\.\.(\d+) not stored \(replay them\)`).FindStringSubmatch(logs.String())
	if found == nil {
		t.Fatalf("the log does not name the lost blocks:\n%s", logs)
	}
	last, _ := strconv.Atoi(found[1])
	if last < lost || last >= blocks {
		t.Fatalf("blocks 1..%d lost, want the batch open when the connection ended (1..%d) and at most %d more\n%s",
			last, lost-1, blocks-lost, logs)
	}
	if got := count("blocks"); got != blocks-last {
		t.Fatalf("%d block rows after the failure, want %d (blocks %d..%d)\n%s", got, blocks-last, last+1, blocks, logs)
	}
	var next int64
	if err := db.QueryRowContext(t.Context(), "SELECT COALESCE(max(next_height), 0) FROM stream.slipstream_position").Scan(&next); err != nil {
		t.Fatal(err)
	}
	if next > 1 {
		t.Fatalf("resume position %d passes lost blocks", next)
	}

	// The node replays from the plugin's resume position: every block again.
	m2, logs2 := newManager(t)
	name2 := mustLoad(t, m2, cfg)
	s2 := finalize.NewStore()
	s2.SetSlipstreamPluginManager(m2)
	for h := uint32(1); h <= blocks; h++ {
		feed(s2, h)
	}
	c2 := pluginInfo(t, m2, name2).Counters
	m2.Unload()
	if c2.Errors != 0 {
		t.Fatalf("replay: %d failures, last: %s\n%s", c2.Errors, c2.LastError, logs2)
	}
	if got, want := count("blocks"), blocks; got != want {
		t.Errorf("%d block rows after the replay, want %d", got, want)
	}
	if got, want := count("mapping_history"), blocks*ops; got != want {
		t.Errorf("%d mapping rows after the replay, want %d", got, want)
	}
}
