"""Dashboards: each role's home page and queues, the campaign dashboard, its figures and reports.

- :mod:`.home`: what each role's home page lists (queries: keyword-only, take a Session, no commit).
- :mod:`.activity`: the audit log's lines named by their records' titles.
- :mod:`.campaign`: a campaign's dashboard data, from the delivery report and the analysis report.
- :mod:`.figures`: plotly figures from that data, pure (no database).
- :mod:`.export`: the same as a self-contained HTML report, XLSX and CSV.
- :mod:`.fieldwork`: interviews per day, enumerator and cluster against the target sample.
"""
