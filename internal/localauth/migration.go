package localauth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
	"github.com/hasura-auth-cdk/hasuraauth/internal/gobuild"
)

// MigrationFunctionName is the UserMigration trigger's name in cognito-local's configuration.
const MigrationFunctionName = "usermigration"

// Migration is the user migration part of the chain (Options.Migration): a second pool in the
// same cognito-local playing the old pool users move from (Moped's), and lambda/usermigration,
// built as deployed, as the new pool's UserMigration trigger.
//
// cognito-local's triggers are per server, not per pool, so the Invoke API routes by the
// event's userPoolId: the old pool's PreTokenGeneration gets its event back unchanged (Moped's
// hook is not this project's), a UserMigration event of the old pool is refused (it has no such
// trigger), and the new pool's go to the real Lambdas.
type Migration struct {
	OldPoolID   string
	OldClientID string

	runtime   *emulator.RuntimeAPI
	bootstrap *exec.Cmd
	proxy     *http.Server

	mu    sync.Mutex
	calls map[string]int // the old pool's API calls the trigger made, by operation
}

// OldPoolCalls counts the Cognito API calls the UserMigration trigger has made to the old pool
// (AdminInitiateAuth, AdminGetUser), seen by a proxy in front of cognito-local.
func (m *Migration) OldPoolCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.calls {
		n += c
	}
	return n
}

// OldPoolCallsOf counts one operation's calls, e.g. "AdminInitiateAuth".
func (m *Migration) OldPoolCallsOf(op string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[op]
}

// startMigration creates the old pool and its admin-auth client in cognito-local, and runs the
// migration Lambda against it through the counting proxy.
func (e *Env) startMigration(ctx context.Context, moduleRoot string) error {
	m := e.Migration
	idp := e.Cognito()
	pool, err := idp.CreateUserPool(ctx, &cip.CreateUserPoolInput{
		PoolName:           aws.String("local-old-users"),
		UsernameAttributes: []ciptypes.UsernameAttributeType{ciptypes.UsernameAttributeTypeEmail},
	})
	if err != nil {
		return fmt.Errorf("create the old user pool: %w", err)
	}
	m.OldPoolID = aws.ToString(pool.UserPool.Id)
	client, err := idp.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{
		UserPoolId: aws.String(m.OldPoolID), ClientName: aws.String("local-old-migration"),
		ExplicitAuthFlows: []ciptypes.ExplicitAuthFlowsType{ciptypes.ExplicitAuthFlowsTypeAllowAdminUserPasswordAuth},
	})
	if err != nil {
		return fmt.Errorf("create the old pool's client: %w", err)
	}
	m.OldClientID = aws.ToString(client.UserPoolClient.ClientId)

	proxyURL, err := m.startProxy(e.CognitoURL)
	if err != nil {
		return err
	}
	bin := filepath.Join(e.dir, "usermigration")
	if err := gobuild.LambdaForHost(moduleRoot, "lambda/usermigration", bin); err != nil {
		return err
	}
	if m.runtime, err = emulator.StartRuntimeAPI(); err != nil {
		return err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), e.Moto.Env()...)
	// cognito-local names its pools local_<id>: the pool's "region" is "local".
	region, _, _ := strings.Cut(m.OldPoolID, "_")
	cmd.Env = append(cmd.Env, "AWS_LAMBDA_RUNTIME_API="+m.runtime.Addr(), "AWS_LAMBDA_FUNCTION_NAME="+MigrationFunctionName,
		"AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER="+proxyURL,
		"OLD_USER_POOL_ID="+m.OldPoolID, "OLD_USER_POOL_REGION="+region, "OLD_USER_POOL_CLIENT_ID="+m.OldClientID)
	cmd.Stdout, cmd.Stderr = e.logs, e.logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the usermigration bootstrap: %w", err)
	}
	m.bootstrap = cmd
	return nil
}

// startProxy passes the trigger's Cognito calls on to cognito-local, counting them.
func (m *Migration) startProxy(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", err
	}
	m.calls = map[string]int{}
	rp := httputil.NewSingleHostReverseProxy(u)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("old pool proxy: %w", err)
	}
	m.proxy = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		m.mu.Lock()
		m.calls[op]++
		m.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = m.proxy.Serve(l) }()
	return "http://" + l.Addr().String(), nil
}

// serve answers the invocations that concern migration and reports whether it did; the new
// pool's PreTokenGeneration is left to the default route (the pre-token Lambda).
func (m *Migration) serve(w http.ResponseWriter, ctx context.Context, name string, event []byte) bool {
	var ev struct {
		UserPoolID string `json:"userPoolId"`
	}
	_ = json.Unmarshal(event, &ev)
	old := ev.UserPoolID == m.OldPoolID
	switch {
	case name == FunctionName && old:
		// The old pool's own pre-token hook is Moped's: tokens it issues to the trigger's
		// AdminInitiateAuth are not this project's concern.
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(event)
	case name == MigrationFunctionName && old:
		// The old pool has no UserMigration trigger: an unknown user stays unknown there.
		writeInvocation(w, nil, &emulator.FunctionError{Type: "NotConfigured", Message: "the old pool has no UserMigration trigger"})
	case name == MigrationFunctionName:
		out, err := m.runtime.Invoke(ctx, event, 5*time.Second)
		if err == nil {
			out, err = withNewSub(out)
		}
		writeInvocation(w, out, err)
	default:
		return false
	}
	return true
}

// withNewSub is the stand-in for what Cognito does and cognito-local 5.3.0 does not: a user
// created from a UserMigration answer gets a new sub in the new pool. cognito-local saves the
// answer's attributes as they are, so without this the migrated user would have no sub, and
// the pre-token trigger rightly refuses an event without one.
func withNewSub(out []byte) ([]byte, error) {
	var whole map[string]json.RawMessage
	if err := json.Unmarshal(out, &whole); err != nil {
		return nil, fmt.Errorf("the UserMigration answer is not a JSON object: %w", err)
	}
	var resp map[string]any
	if err := json.Unmarshal(whole["response"], &resp); err != nil || resp == nil {
		return nil, errors.New("the UserMigration answer has no response object")
	}
	attrs, _ := resp["userAttributes"].(map[string]any)
	if attrs == nil {
		return nil, errors.New("the UserMigration answer has no userAttributes")
	}
	if _, set := attrs["sub"]; set {
		return nil, errors.New("the UserMigration answer sets sub, which only Cognito may")
	}
	attrs["sub"] = newUUID()
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, err
	}
	whole["response"] = b
	return json.Marshal(whole)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// writeInvocation answers an Invoke call as Lambda does: the payload, or for a function error
// 200 with X-Amz-Function-Error and the error as payload.
func writeInvocation(w http.ResponseWriter, out []byte, err error) {
	var fe *emulator.FunctionError
	switch {
	case errors.As(err, &fe):
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(map[string]string{"errorMessage": fe.Message, "errorType": fe.Type})
	case err != nil:
		w.Header().Set("X-Amzn-ErrorType", "ServiceException")
		http.Error(w, fmt.Sprintf(`{"message":%q}`, err.Error()), http.StatusInternalServerError)
	default:
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
	}
}

func (m *Migration) stop() {
	if m.proxy != nil {
		_ = m.proxy.Close()
	}
	if m.bootstrap != nil && m.bootstrap.Process != nil {
		_ = m.bootstrap.Process.Kill()
		_ = m.bootstrap.Wait()
	}
	if m.runtime != nil {
		m.runtime.Close()
	}
}
