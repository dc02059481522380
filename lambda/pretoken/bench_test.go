package main

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hasura-auth-cdk/hasuraauth/internal/awsclient"
	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
	"github.com/hasura-auth-cdk/hasuraauth/internal/gobuild"
)

// Run with `make bench`. Medians and ratios come from samples taken side by side in one run.

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkWarmHandlerVsGetItem interleaves a warm handler invocation with a bare GetItem of the
// same item through the same client configuration, so both see the same emulator and machine load.
func BenchmarkWarmHandlerVsGetItem(b *testing.B) {
	f := newFixture(b)
	f.put(b, item{email: "alice@example.com", claimsJSON: editorClaims, uuid: uuid})
	// As deployed: with a function name, every line also carries its metrics (EMF).
	h := f.handler(b, map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "pretoken-bench"})
	warmVsGetItem(b, h, f.table, "alice@example.com", event("2", "TokenGeneration_Authentication", nativeUser("alice@example.com", sub)), "warm handler")
}

// BenchmarkWarmClientCredentialsVsGetItem is the same measurement for a machine token: a version
// 3 client-credentials event against the client's record.
func BenchmarkWarmClientCredentialsVsGetItem(b *testing.B) {
	f := newFixture(b)
	h := f.handler(b, map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "pretoken-bench", "MACHINE_TIERS": machineTiers})
	f.putClient(b, claims.Client{ID: "4tq8ingest", Name: "grid-ingest", Tier: "internal"})
	warmVsGetItem(b, h, f.table, claims.ClientItemID("4tq8ingest"), clientEvent("4tq8ingest", "hasura/Query:Person", "hasura/Mutation:Person:Create"), "warm client credentials")
}

func warmVsGetItem(b *testing.B, h *Handler, table, key string, ev []byte, label string) {
	cfg, err := awsclient.LambdaConfig(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	bare := awsclient.DynamoDB(cfg)
	in := &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"user_id": &types.AttributeValueMemberS{Value: key}}}
	ctx := context.Background()
	if _, err := h.Handle(ctx, ev); err != nil { // warm: key ring cached, connections open
		b.Fatal(err)
	}
	if _, err := bare.GetItem(ctx, in); err != nil {
		b.Fatal(err)
	}
	handler := make([]time.Duration, 0, b.N)
	getItem := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := h.Handle(ctx, ev); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := bare.GetItem(ctx, in); err != nil {
			b.Fatal(err)
		}
		handler = append(handler, t1.Sub(t0))
		getItem = append(getItem, time.Since(t1))
	}
	b.StopTimer()
	hp50, hp99 := percentile(handler, .5), percentile(handler, .99)
	gp50, gp99 := percentile(getItem, .5), percentile(getItem, .99)
	b.ReportMetric(ms(hp50), "handler-p50-ms")
	b.ReportMetric(ms(hp99), "handler-p99-ms")
	b.ReportMetric(ms(gp50), "getitem-p50-ms")
	b.ReportMetric(ms(gp99), "getitem-p99-ms")
	b.ReportMetric(float64(hp50)/float64(gp50), "p50-ratio")
	b.Logf("%s p50 %.2f ms p99 %.2f ms | bare GetItem p50 %.2f ms p99 %.2f ms | p50 ratio %.2fx (target <= 1.3x) | n=%d",
		label, ms(hp50), ms(hp99), ms(gp50), ms(gp99), float64(hp50)/float64(gp50), b.N)
}

// BenchmarkColdStart starts the built bootstrap under the local Runtime API and times its first
// answer: process start, SDK setup, the secret read and the item read.
func BenchmarkColdStart(b *testing.B) {
	f := newFixture(b)
	f.put(b, item{email: "alice@example.com", claimsJSON: editorClaims, uuid: uuid})
	bin := buildBootstrap(b)
	ev := event("2", "TokenGeneration_Authentication", nativeUser("alice@example.com", sub))
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rt, err := emulator.StartRuntimeAPI()
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		cmd := startBootstrap(b, bin, rt, map[string]string{"CLAIMS_TABLE_NAME": f.table, "CLAIMS_KEY_SECRET_ID": f.secretID})
		if _, err := rt.Invoke(context.Background(), ev, 10*time.Second); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(t0))
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		rt.Close()
	}
	b.StopTimer()
	p50, p99 := percentile(samples, .5), percentile(samples, .99)
	b.ReportMetric(ms(p50), "cold-p50-ms")
	b.ReportMetric(ms(p99), "cold-p99-ms")
	b.Logf("cold start to first response p50 %.1f ms p99 %.1f ms (target < 100 ms) | n=%d", ms(p50), ms(p99), b.N)
}

// BenchmarkBinarySize reports the size of the deployed (linux/arm64) bootstrap.
func BenchmarkBinarySize(b *testing.B) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	out := filepath.Join(b.TempDir(), "bootstrap")
	for i := 0; i < b.N; i++ {
		if err := gobuild.Lambda(root, "lambda/pretoken", out); err != nil {
			b.Fatal(err)
		}
	}
	st, err := os.Stat(out)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size())/(1<<20), "MiB")
	b.Logf("deployed bootstrap (linux/arm64, stripped): %.2f MiB", float64(st.Size())/(1<<20))
}
