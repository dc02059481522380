package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/hasura-auth-cdk/hasuraauth/stacks/names"
)

// PreviousSuffix names the parameter that keeps the event API key of before the last rotation,
// so the backend can accept both values while Hasura's tasks are replaced.
const PreviousSuffix = names.EventAPIKeyPreviousSuffix

// apiKeyTarget is the event API key parameter and the Hasura service that reads it.
type apiKeyTarget struct {
	param, cluster, service string
	ps                      *ssm.Client
	ecs                     *ecs.Client
	// st provides the lease that keeps two rotations from interleaving (one could copy the
	// other's new value to -previous and drop the key the running tasks still send).
	st *store
}

// apiKeyTarget resolves the parameter, and with withService the Hasura service, before anything is written.
func (x *env) apiKeyTarget(ctx context.Context, withService bool) (*apiKeyTarget, error) {
	k := &apiKeyTarget{ps: x.ps, ecs: x.ecs}
	var err error
	if k.param, err = x.resource(ctx, x.g.apiKeyParam, "identity", names.OutEventAPIKeyParameterName); err != nil {
		return nil, err
	}
	if k.st, err = x.store(ctx, 1); err != nil {
		return nil, err
	}
	if !withService {
		return k, nil
	}
	if k.cluster, err = x.resource(ctx, x.g.cluster, "hasura", names.OutClusterName); err != nil {
		return nil, err
	}
	if k.service, err = x.resource(ctx, x.g.service, "hasura", names.OutHasuraServiceName); err != nil {
		return nil, err
	}
	return k, nil
}

// apiKeyRotate rotates the event API key with an overlap window:
//  1. the current value is copied to <param>-previous (the backend accepts it from now on);
//  2. a new random value is written to <param>;
//  3. a new deployment of Hasura starts, whose tasks read the new value.
//
// Until claimsctl apikey retire-previous, the backend accepts either value, so events sent by
// old and new tasks during the deployment are all delivered.
func apiKeyRotate(ctx context.Context, k *apiKeyTarget, out *printer) error {
	ctx, l, err := k.st.lock(ctx, "apikey rotate")
	if err != nil {
		return err
	}
	defer l.release()
	desc, err := k.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(k.cluster), Services: []string{k.service}})
	if err != nil {
		return fmt.Errorf("find Hasura service %s in cluster %s: %w; nothing was changed", k.service, k.cluster, err)
	}
	if len(desc.Services) == 0 {
		reason := "not found"
		if len(desc.Failures) > 0 {
			reason = aws.ToString(desc.Failures[0].Reason)
		}
		return fmt.Errorf("find Hasura service %s in cluster %s: %s (check --service and --cluster, or the hasura stack's outputs); nothing was changed", k.service, k.cluster, reason)
	}
	cur, err := k.ps.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(k.param), WithDecryption: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("read the current event API key %s: %w; nothing was changed", k.param, err)
	}
	if cur.Parameter.Type != ssmtypes.ParameterTypeSecureString {
		return fmt.Errorf("parameter %s is a %s, not a SecureString: it was not created by this project; nothing was changed", k.param, cur.Parameter.Type)
	}
	prev := k.param + PreviousSuffix
	// An open overlap window (-previous holds another value than the current key) means the
	// tasks started before the last rotation may still run and send that value: copying the
	// current key over it would drop the key they send. A -previous equal to the current key
	// is what a run stopped after step 1 leaves, and may be overwritten.
	old, err := k.ps.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(prev), WithDecryption: aws.Bool(true)})
	var nf *ssmtypes.ParameterNotFound
	switch {
	case errors.As(err, &nf):
	case err != nil:
		return fmt.Errorf("read the previous event API key %s: %w; nothing was changed", prev, err)
	case aws.ToString(old.Parameter.Value) != aws.ToString(cur.Parameter.Value):
		return fmt.Errorf("an overlap window is open: %s still holds the key that tasks started before the last rotation send; "+
			"once the deployment of %s has finished (aws ecs wait services-stable --cluster %s --services %s), run claimsctl apikey retire-previous, then rotate again; nothing was changed",
			prev, k.service, k.cluster, k.service)
	}
	err = fault("apikey:before-previous")
	if err == nil {
		_, err = k.ps.PutParameter(ctx, &ssm.PutParameterInput{
			Name: aws.String(prev), Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true),
			Value:       cur.Parameter.Value,
			Description: aws.String("The event API key before the last claimsctl apikey rotate; accepted until claimsctl apikey retire-previous."),
		})
	}
	if err != nil {
		return fmt.Errorf("copy the current key to %s: %w; the current key is unchanged", prev, err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("draw random key: %w", err)
	}
	err = fault("apikey:before-current")
	if err == nil {
		_, err = k.ps.PutParameter(ctx, &ssm.PutParameterInput{
			Name: aws.String(k.param), Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true),
			Value: aws.String(base64.RawURLEncoding.EncodeToString(b)),
		})
	}
	if err != nil {
		return fmt.Errorf("write the new key to %s: %w; the current key is unchanged (and also in %s): rerun claimsctl apikey rotate", k.param, err, prev)
	}
	err = fault("apikey:before-deploy")
	if err == nil {
		_, err = k.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(k.cluster), Service: aws.String(k.service), ForceNewDeployment: true})
	}
	if err != nil {
		return partialf("the new key is in %s and the old one in %s, but the Hasura tasks still send the old one (%v): "+
			"run aws ecs update-service --cluster %s --service %s --force-new-deployment (not apikey rotate again, which would drop the key the tasks send)",
			k.param, prev, err, k.cluster, k.service)
	}
	out.result(map[string]any{"parameter": k.param, "previous": prev, "cluster": k.cluster, "service": k.service, "deployment": "started"},
		"1. copied the current event API key to %s (the backend accepts it until retired)\n"+
			"2. wrote a new event API key to %s\n"+
			"3. started a new deployment of %s; its new tasks send the new key\n"+
			"next: once the deployment has finished (aws ecs wait services-stable --cluster %s --services %s), run claimsctl apikey retire-previous",
		prev, k.param, k.service, k.cluster, k.service)
	return nil
}

// apiKeyRetirePrevious ends the overlap window: only the current key is accepted afterwards.
func apiKeyRetirePrevious(ctx context.Context, k *apiKeyTarget, out *printer) error {
	ctx, l, err := k.st.lock(ctx, "apikey retire-previous")
	if err != nil {
		return err
	}
	defer l.release()
	prev := k.param + PreviousSuffix
	_, err = k.ps.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(prev)})
	var nf *ssmtypes.ParameterNotFound
	if errors.As(err, &nf) {
		out.result(map[string]any{"previous": prev, "retired": false}, "no previous event API key (%s does not exist); nothing to retire", prev)
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w; the previous key is still accepted", prev, err)
	}
	out.result(map[string]any{"previous": prev, "retired": true}, "deleted %s: only the current event API key in %s is accepted now", prev, k.param)
	return nil
}
