package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
	"github.com/hasura-auth-cdk/hasuraauth/internal/gobuild"
)

// buildBootstrap compiles this package as it is deployed (lambda.norpc, static, trimmed), for
// this machine's architecture so that it runs here.
func buildBootstrap(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	require.NoError(t, gobuild.LambdaForHost(filepath.Join("..", ".."), "lambda/pretoken", bin))
	return bin
}

// startBootstrap runs the binary against a Runtime API, as Lambda does, and stops it at cleanup.
func startBootstrap(t testing.TB, bin string, rt *emulator.RuntimeAPI, env map[string]string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), moto.Env()...)
	cmd.Env = append(cmd.Env, "AWS_LAMBDA_RUNTIME_API="+rt.Addr(), "AWS_LAMBDA_FUNCTION_NAME=pretoken",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func TestBuiltBootstrapAnswersRealEventsUnderTheRuntimeAPI(t *testing.T) {
	f := newFixture(t)
	f.put(t, item{email: "alice@example.com", claimsJSON: editorClaims, uuid: uuid})
	rt, err := emulator.StartRuntimeAPI()
	require.NoError(t, err)
	defer rt.Close()
	startBootstrap(t, buildBootstrap(t), rt, map[string]string{"CLAIMS_TABLE_NAME": f.table, "CLAIMS_KEY_SECRET_ID": f.secretID})

	ctx := context.Background()
	out, err := rt.Invoke(ctx, event("2", "TokenGeneration_Authentication", nativeUser("alice@example.com", sub)), 10*time.Second)
	require.NoError(t, err)
	got := tokenClaims(t, "2", out)
	assert.Equal(t, uuid, got["id"]["x-hasura-user-id"])
	assert.Equal(t, []any{"viewer", "editor"}, got["access"]["x-hasura-allowed-roles"])

	_, err = rt.Invoke(ctx, event("2", "TokenGeneration_Authentication", nativeUser("mallory@example.com", sub)), 10*time.Second)
	var fe *emulator.FunctionError
	require.ErrorAs(t, err, &fe, "an unknown user is refused with a function error")
	assert.Equal(t, RefusalMessage, fe.Message)
}

func TestBuiltBootstrapFailsInitWithoutConfiguration(t *testing.T) {
	rt, err := emulator.StartRuntimeAPI()
	require.NoError(t, err)
	defer rt.Close()
	cmd := startBootstrap(t, buildBootstrap(t), rt, map[string]string{"CLAIMS_TABLE_NAME": ""})
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.Error(t, err, "the process must exit: every invocation then fails, so no token is issued")
	case <-time.After(10 * time.Second):
		t.Fatal("bootstrap kept running without its configuration")
	}
}
