"""kinds/k8s_cluster"""
