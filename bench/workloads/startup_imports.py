"""Import-heavy start-up: a program that imports a typical set of
standard-library modules and does nothing else."""
import argparse
import asyncio
import collections
import dataclasses
import datetime
import decimal
import email.message
import email.parser
import http.client
import json
import logging
import pathlib
import re
import subprocess
import tempfile
import typing
import unittest
import urllib.request

print("startup_imports", len(dir(asyncio)) > 0)
