"""Adapters from public community data formats to the event contract.

Each adapter reads one public format, checks every record it uses, refuses a
malformed file with the :class:`~shequn_ml.validation.EventValidationError` the
readers raise (naming the file, the field and the rows), and returns a
:class:`CommunityData`: the normalised events, plus members and groups tables
where the format carries them, plus what it dropped, counted.

``load_snap``
    A SNAP temporal edge list ``src dst unix_ts`` (:mod:`shequn_ml.datasets.snap`).
``load_stackexchange``
    A Stack Exchange data-dump folder (:mod:`shequn_ml.datasets.stackexchange`),
    with the leadership signals from outside the interaction graph.
``load_irc``
    IRC log slices with reply links, in the ``events.csv.gz`` form of the Ubuntu
    disentanglement corpus (:mod:`shequn_ml.datasets.irc`), with leaders and bots.
``load_gitter``
    A Gitter room log, ``[time] <login> text`` lines as in the LiveChat study
    (:mod:`shequn_ml.datasets.gitter`), with reply targets read from the text.
``load_slack_disentangled``
    Disentangled Slack chat XML files as in the MSR 2020 Slack corpus
    (:mod:`shequn_ml.datasets.slack_xml`), with replies from mentions and
    conversations.
"""

from shequn_ml.datasets._common import CommunityData
from shequn_ml.datasets.gitter import load_gitter
from shequn_ml.datasets.irc import IrcData, load_irc
from shequn_ml.datasets.slack_xml import load_slack_disentangled
from shequn_ml.datasets.snap import load_snap
from shequn_ml.datasets.stackexchange import (
    StackExchangeData,
    StackExchangeLeadership,
    load_stackexchange,
)

__all__ = ["CommunityData", "IrcData", "StackExchangeData", "StackExchangeLeadership", "load_gitter",
           "load_irc", "load_slack_disentangled", "load_snap", "load_stackexchange"]
