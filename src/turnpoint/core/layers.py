"""Building blocks both tasks' networks share: the Keras conventions their designs were written in.

Both seed designs are Keras models; torch's LSTM initialises and counts parameters differently,
so the tasks initialise their LSTMs as Keras does and report parameter counts in Keras' terms.
"""

from __future__ import annotations

from torch import nn


def init_lstm_like_keras(lstm: nn.LSTM) -> None:
    """Keras' LSTM initialisation: glorot input weights, orthogonal recurrent weights, zero biases
    except a forget-gate bias of 1 (split as 0.5 + 0.5 over torch's two bias vectors).

    Examples
    --------
    >>> lstm = nn.LSTM(4, 3, batch_first=True)
    >>> init_lstm_like_keras(lstm)
    >>> (lstm.bias_ih_l0[3:6] + lstm.bias_hh_l0[3:6]).tolist()
    [1.0, 1.0, 1.0]
    """
    for name, parameter in lstm.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(parameter)
        elif name.startswith("weight_hh"):
            nn.init.orthogonal_(parameter)
        else:
            nn.init.zeros_(parameter)
            parameter.data[lstm.hidden_size : 2 * lstm.hidden_size] = 0.5


def keras_lstm_parameters(inputs: int, units: int) -> int:
    """Parameters of one Keras LSTM direction: 4·((inputs + 1)·units + units²).

    Examples
    --------
    >>> keras_lstm_parameters(35, 32)
    8704
    """
    return 4 * ((inputs + 1) * units + units * units)
