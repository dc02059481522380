package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
)

// benchItems and benchRuns default to what make bench measures; CLAIMSCTL_BENCH_ITEMS and
// CLAIMSCTL_BENCH_RUNS change them for a one-off run at scale (e.g. 100000 items, 1 run).
var benchItems, benchRuns = envInt("CLAIMSCTL_BENCH_ITEMS", 10000), envInt("CLAIMSCTL_BENCH_RUNS", 3)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkClaimsAt10000Items measures claims verify and key rotate over 10,000 items (see benchItems) on one
// dynalite (the table) and moto (the key secret), sequentially (--workers 1) and in parallel
// (--workers 16), calling the operations directly. It prints items per second (median of the
// runs) and the parallel/sequential ratio. Run by make bench.
func BenchmarkClaimsAt10000Items(b *testing.B) {
	ctx := context.Background()
	dyn, err := emulator.StartDynalite("../..")
	if err != nil {
		b.Fatal(err)
	}
	defer dyn.Stop()
	db := dynamodb.NewFromConfig(dyn.Config())
	sm := secretsmanager.NewFromConfig(moto.Config())
	table := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	if err := emulator.CreateClaimsTable(ctx, db, table); err != nil {
		b.Fatal(err)
	}
	if err := dynamodb.NewTableExistsWaiter(db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
		b.Fatal(err)
	}
	k, _ := claims.GenerateKey()
	ring, _ := claims.NewKeyRing(k)
	sec, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(table), SecretString: aws.String(ring.SecretString())})
	if err != nil {
		b.Fatal(err)
	}
	fill(b, db, table, ring)

	st := func(workers int) *store {
		return &store{table: table, secretID: aws.ToString(sec.ARN), db: db, sm: sm, lockWait: time.Minute, workers: workers}
	}
	out := &printer{w: io.Discard}
	// measure returns the median items/s of the runs, and the CPU both processes used (this
	// client and dynalite) per second of wall time in the median run: near 1.0 sequentially means
	// the work is CPU-bound, not waiting, and then parallel requests can gain at most the idle
	// cores.
	measure := func(runs int, op func(*store) error, workers int) (float64, float64) {
		type sample struct{ rate, busy float64 }
		var samples []sample
		for i := 0; i < runs; i++ {
			c0, d0 := clientCPU(), emulatorCPU(b, dyn)
			start := time.Now()
			if err := op(st(workers)); err != nil {
				b.Fatal(err)
			}
			wall := time.Since(start)
			cpu := clientCPU() - c0 + emulatorCPU(b, dyn) - d0
			samples = append(samples, sample{float64(benchItems) / wall.Seconds(), cpu.Seconds() / wall.Seconds()})
		}
		sort.Slice(samples, func(i, j int) bool { return samples[i].rate < samples[j].rate })
		m := samples[len(samples)/2]
		return m.rate, m.busy
	}
	verify := func(s *store) error { return claimsVerify(ctx, s, out, false) }
	rotate := func(s *store) error { return keyRotate(ctx, s, out, false, true) }
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vs, vsBusy := measure(benchRuns, verify, 1)
		vp, vpBusy := measure(benchRuns, verify, 16)
		rs, rsBusy := measure(benchRuns, rotate, 1)
		rp, rpBusy := measure(benchRuns, rotate, 16)
		b.StopTimer()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("heap in use after the runs: %d MiB, total from the OS: %d MiB\n", ms.HeapInuse>>20, ms.Sys>>20)
		fmt.Printf("claims verify, %d items: sequential %.0f items/s (%.2f CPUs busy), 16 workers %.0f items/s (%.2f CPUs busy): %.1fx\n", benchItems, vs, vsBusy, vp, vpBusy, vp/vs)
		fmt.Printf("key rotate,    %d items: sequential %.0f items/s (%.2f CPUs busy), 16 workers %.0f items/s (%.2f CPUs busy): %.1fx\n", benchItems, rs, rsBusy, rp, rpBusy, rp/rs)
		fmt.Printf("(%d CPUs on this machine; CPUs busy counts this client and dynalite only)\n", runtime.NumCPU())
		b.ReportMetric(vp/vs, "verify-speedup")
		b.ReportMetric(rp/rs, "rotate-speedup")
		b.StartTimer()
	}
}

// fill writes benchItems sealed items with batch writes, several batches at once.
func fill(b *testing.B, db *dynamodb.Client, table string, ring *claims.KeyRing) {
	c, _ := claims.New([]string{"viewer", "editor"}, "viewer", map[string]string{"x-hasura-org-id": "7"})
	var wg sync.WaitGroup
	errs := make(chan error, benchItems/25+1)
	sem := make(chan struct{}, 16)
	for i := 0; i < benchItems; i += 25 {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			var reqs []ddbtypes.WriteRequest
			for j := i; j < i+25; j++ {
				e := fmt.Sprintf("user%05d@example.com", j)
				tok, err := claims.SealFor(ring, c, claims.Binding{UserID: e, Identity: fmt.Sprintf("sub-%05d", j)})
				if err != nil {
					errs <- err
					return
				}
				reqs = append(reqs, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: claims.Record{UserID: e, Claims: tok}.Item()}})
			}
			for len(reqs) > 0 {
				out, err := db.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{table: reqs}})
				if err != nil {
					errs <- err
					return
				}
				reqs = out.UnprocessedItems[table]
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

func clientCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func emulatorCPU(b *testing.B, d *emulator.Dynalite) time.Duration {
	c, err := d.CPU()
	if err != nil {
		b.Fatal(err)
	}
	return c
}
