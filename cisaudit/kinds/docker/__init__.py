"""kinds/docker"""
