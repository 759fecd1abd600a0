"""kinds/k8s_node"""
