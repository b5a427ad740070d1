// A TOKEN authorizer as Go samples write one with golang-jwt (v4): the JWKS fetched once in
// package init and kept by kid, Bearer trimmed, audience and issuer checked. It is its own
// custom runtime (provided.al2023): it calls the Lambda Runtime API itself, with the standard
// library, so it builds from Debian's packages alone (golang-go, golang-github-golang-jwt-jwt-dev):
//
//   GO111MODULE=off GOPATH=/usr/share/gocode go build -o bootstrap .
//   authprobe conform --target lambda:./bootstrap \
//     --env JWKS_URL={jwks_url} --env ISSUER={issuer} --env AUDIENCE={audience}
//
// What authprobe finds in it, and which of it is true: docs/REAL-AUTHORIZERS.md.
package main

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strings"

	"github.com/golang-jwt/jwt"
)

var keys = map[string]*rsa.PublicKey{}

func init() {
	resp, err := http.Get(os.Getenv("JWKS_URL"))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kid, N, E string } `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		panic(err)
	}
	for _, k := range set.Keys {
		n, _ := base64.RawURLEncoding.DecodeString(k.N)
		e, _ := base64.RawURLEncoding.DecodeString(k.E)
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
}

type event struct {
	AuthorizationToken string `json:"authorizationToken"`
	MethodArn          string `json:"methodArn"`
}

func authorize(ev event) (map[string]interface{}, error) {
	raw := strings.TrimPrefix(ev.AuthorizationToken, "Bearer ")
	token, err := jwt.Parse(raw, func(t *jwt.Token) (interface{}, error) {
		if _, ok := t.Method.(*jwt.SigningMethodRSA); !ok {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		kid, _ := t.Header["kid"].(string)
		if key, ok := keys[kid]; ok {
			return key, nil
		}
		return nil, errors.New("unknown kid")
	})
	if err != nil || !token.Valid {
		return nil, errors.New("Unauthorized")
	}
	claims := token.Claims.(jwt.MapClaims)
	if !claims.VerifyAudience(os.Getenv("AUDIENCE"), true) || !claims.VerifyIssuer(os.Getenv("ISSUER"), true) {
		return nil, errors.New("Unauthorized")
	}
	sub, _ := claims["sub"].(string)
	return map[string]interface{}{
		"principalId": sub,
		"policyDocument": map[string]interface{}{
			"Version":   "2012-10-17",
			"Statement": []interface{}{map[string]interface{}{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ev.MethodArn}},
		},
	}, nil
}

func main() {
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/invocation/"
	for {
		resp, err := http.Get(api + "next")
		if err != nil {
			os.Exit(1)
		}
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		var ev event
		json.NewDecoder(resp.Body).Decode(&ev)
		resp.Body.Close()
		out, err := authorize(ev)
		if err != nil {
			body, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": "errorString"})
			r, _ := http.Post(api+id+"/error", "application/json", bytes.NewReader(body))
			if r != nil {
				r.Body.Close()
			}
			continue
		}
		body, _ := json.Marshal(out)
		r, _ := http.Post(api+id+"/response", "application/json", bytes.NewReader(body))
		if r != nil {
			r.Body.Close()
		}
	}
}
