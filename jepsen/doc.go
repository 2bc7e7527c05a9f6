package jepsen
