"""Tests of the local sandbox: real etcd, kube-apiserver, SeaweedFS and simulated operator."""
