"""Reminders (提醒): a daily digest to this office of what is due soon or overdue, and to a
parent of what its children owe, by e-mail (SMTP) and/or a signed webhook. Off by default;
every send is recorded; never twice for the same day and channel."""
