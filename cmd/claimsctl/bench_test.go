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

// benchLatencyRuns is the number of latency-bound runs (CLAIMSCTL_BENCH_LATENCY_RUNS): one by
// default, as a sequential latency-bound rotation of 10,000 items takes about a minute and a
// half, and its rate hardly varies (the delay, not the machine, sets it).
var benchLatencyRuns = envInt("CLAIMSCTL_BENCH_LATENCY_RUNS", 1)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// benchLatency is the one-way delay of the latency-bound run: 4 ms each way, 8 ms a round trip.
// AWS documents single-digit-millisecond average latency for DynamoDB's GetItem and PutItem, as
// measured inside the service (SuccessfulRequestLatency, no network:
// https://repost.aws/knowledge-center/dynamodb-high-latency); a client in the same region adds
// its network round trip. 8 ms per request, plus the emulator's own time, sits inside that range
// for a single-item request and is optimistic for a 100-item Scan page.
const benchLatency = 4 * time.Millisecond

// BenchmarkClaimsAt10000Items measures claims verify and key rotate over 10,000 items (see
// benchItems), sequentially (--workers 1) and in parallel (--workers 16), calling the operations
// directly through the HTTP client claimsctl uses. It runs twice against the same dynalite (the
// table; moto holds the key secret): directly, where the emulator's CPU bounds the work
// (emulator-bound), and through a proxy adding benchLatency each way (latency-bound, as against
// DynamoDB). It prints items per second (median of the runs), the parallel/sequential ratio, and
// where a sequential run's wall time goes: this client's CPU, dynalite's CPU, and the rest
// (waiting on round trips, moto, the scheduler). Run by make bench.
func BenchmarkClaimsAt10000Items(b *testing.B) {
	ctx := context.Background()
	dyn, err := emulator.StartDynalite("../..")
	if err != nil {
		b.Fatal(err)
	}
	defer dyn.Stop()
	proxy, err := emulator.StartLatencyProxy(dyn.URL, benchLatency)
	if err != nil {
		b.Fatal(err)
	}
	defer proxy.Close()
	client := func(url string) *dynamodb.Client {
		cfg := dyn.Config()
		cfg.HTTPClient = httpClient()
		return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(url) })
	}
	db, slow := client(dyn.URL), client(proxy.URL)
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

	out := &printer{w: io.Discard}
	type sample struct{ rate, client, emulator float64 }
	// measure returns the median run (by items/s) of op with workers over db, with the CPU this
	// client and dynalite used per second of its wall time.
	measure := func(db *dynamodb.Client, runs int, op func(*store) error, workers int) sample {
		var samples []sample
		for i := 0; i < runs; i++ {
			c0, d0 := clientCPU(), emulatorCPU(b, dyn)
			start := time.Now()
			if err := op(&store{table: table, secretID: aws.ToString(sec.ARN), db: db, sm: sm, lockWait: time.Minute, workers: workers}); err != nil {
				b.Fatal(err)
			}
			wall := time.Since(start).Seconds()
			samples = append(samples, sample{float64(benchItems) / wall, (clientCPU() - c0).Seconds() / wall, (emulatorCPU(b, dyn) - d0).Seconds() / wall})
		}
		sort.Slice(samples, func(i, j int) bool { return samples[i].rate < samples[j].rate })
		return samples[len(samples)/2]
	}
	verify := func(s *store) error { return claimsVerify(ctx, s, out, false) }
	rotate := func(s *store) error { return keyRotate(ctx, s, out, false, true) }
	report := func(mode, name string, seq, par sample) float64 {
		fmt.Printf("%-14s %-13s sequential %6.0f items/s, 16 workers %6.0f items/s: %4.1fx | sequential wall: client CPU %3.0f%%, dynalite CPU %3.0f%%, waiting %3.0f%%\n",
			mode, name, seq.rate, par.rate, par.rate/seq.rate, 100*seq.client, 100*seq.emulator, 100*max(0, 1-seq.client-seq.emulator))
		return par.rate / seq.rate
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fmt.Printf("%d items, %d CPUs on this machine; medians of %d runs (latency-bound: %d)\n", benchItems, runtime.NumCPU(), benchRuns, benchLatencyRuns)
		vs, vp := measure(db, benchRuns, verify, 1), measure(db, benchRuns, verify, 16)
		rs, rp := measure(db, benchRuns, rotate, 1), measure(db, benchRuns, rotate, 16)
		lvs, lvp := measure(slow, benchLatencyRuns, verify, 1), measure(slow, benchLatencyRuns, verify, 16)
		lrs, lrp := measure(slow, benchLatencyRuns, rotate, 1), measure(slow, benchLatencyRuns, rotate, 16)
		b.StopTimer()
		b.ReportMetric(report("emulator-bound", "claims verify", vs, vp), "verify-speedup")
		b.ReportMetric(report("emulator-bound", "key rotate", rs, rp), "rotate-speedup")
		b.ReportMetric(report(fmt.Sprintf("+%s each way", benchLatency), "claims verify", lvs, lvp), "verify-speedup-latency")
		b.ReportMetric(report(fmt.Sprintf("+%s each way", benchLatency), "key rotate", lrs, lrp), "rotate-speedup-latency")
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("heap in use after the runs: %d MiB, total from the OS: %d MiB\n", ms.HeapInuse>>20, ms.Sys>>20)
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
