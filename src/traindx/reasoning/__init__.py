"""Reasoning: root-cause rules from symptoms and facts to ranked, evidenced hypotheses."""
