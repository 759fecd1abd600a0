"""kinds/common"""
